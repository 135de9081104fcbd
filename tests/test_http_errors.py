"""Errors of the HTTP service, each in OpenAI's shape with a status a client, a LiteLLM proxy or a load balancer
can act on: a session that failed is a 502 (not a 200 carrying the fallback text), anything unexpected an
OpenAI-shaped 500 with its session id (not Starlette's plain text), bad paths and query values 4xx, and a
client that left is counted as 499. Real `routeweave serve` processes over the stub OpenAI server, plus an
in-process app over a faulty graph for the 500s."""

from __future__ import annotations

import json
import logging
import time

import httpx
import openai
import pytest

from support.serve import ServeProcess
from support.stub_openai import StubServer, write_stub_pool

QUESTION = [{"role": "user", "content": "When was the Eiffel Tower finished?"}]
SID = r"[0-9a-f]{32}"


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error) <= {"message", "type", "param", "code", "session_id"}
    assert error["message"]
    if code:
        assert error["code"] == code, error
    return error


def events(text: str) -> list:
    """The `data:` payloads of an SSE body, [DONE] as the string."""
    return [line[6:] if line == "data: [DONE]" else json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def metric(proc: ServeProcess, **labels) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in httpx.get(proc.url + "/metrics", timeout=30).text.splitlines():
        if line.startswith(f"routeweave_requests_total{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture(scope="module")
def down(tmp_path_factory, stub):
    """A server whose router's model server answers 500 (no retries); expert Down answers 500 too, Slow after 1.5 s."""
    folder = tmp_path_factory.mktemp("serve-down")
    pool = write_stub_pool(folder / "down.toml", stub, router="500", experts={"Slow": "slow:1.5", "Down": "500"},
                           tables="[reliability]\nnum_retries = 0")
    with ServeProcess(folder, pool=pool) as proc:  # with the UI: its paths must keep working
        yield proc


def said(proc: ServeProcess, *parts: str, timeout: float = 10.0) -> bool:
    """Whether a line of the server's output holds every part (waiting for its reader thread to catch up)."""
    deadline = time.monotonic() + timeout
    while not any(all(p in line for p in parts) for line in list(proc.output)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def chat(proc: ServeProcess, model: str = "routeweave-r1", **body) -> httpx.Response:
    return httpx.post(proc.url + "/v1/chat/completions", json={"model": model, "messages": QUESTION, **body}, timeout=60)


# -- 1. a failed session is an error, not an answer -----------------------------------------------------------


@pytest.mark.parametrize("model, options, who", [
    ("routeweave-r1", {}, "the router's call failed"),
    ("routeweave-direct", {}, "the router's call failed"),
    ("routeweave-single-shot", {"experts": ["Down"]}, "expert Down's call failed"),  # the only expert failed
])
def test_a_failed_session_is_a_502_naming_the_call_that_failed(down, model, options, who):
    before = metric(down, model=model, status="502")
    response = chat(down, model, routeweave={**options, "include_steps": True})
    error = assert_openai_error(response, 502, "session_failed")
    assert error["type"] == "upstream_error" and who in error["message"] and "stub 500" in error["message"], error
    assert "retry" in error["message"]  # says what to do
    sid = error["session_id"]
    assert response.json()["routeweave"]["session_id"] == sid and response.json()["routeweave"]["stop_reason"] == "failed"
    assert "choices" not in response.json()  # no fallback text posing as an answer
    trace = httpx.get(down.url + f"/v1/sessions/{sid}", timeout=30).json()  # the session it names is stored
    assert trace["session_id"] == sid and trace["stop_reason"] == "failed"
    assert metric(down, model=model, status="502") == before + 1
    assert said(down, f"session {sid} failed: ", who)  # and in the server's log
    with pytest.raises(openai.InternalServerError) as raised:  # what the openai client (and LiteLLM) see
        openai.OpenAI(base_url=down.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
            model=model, messages=QUESTION, extra_body={"routeweave": options})
    assert raised.value.status_code == 502 and raised.value.code == "session_failed"


def test_a_failed_stream_ends_with_an_error_event_not_a_stop(down):
    before = metric(down, model="routeweave-r1", status="502")
    body = {"model": "routeweave-r1", "messages": QUESTION, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", down.url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200  # sent before the session ran
        got = events(r.read().decode())
    assert got[-1] == "[DONE]"
    error = got[-2]["error"]
    assert error["code"] == "session_failed" and error["type"] == "upstream_error" and "stub 500" in error["message"]
    chunks = [e for e in got[:-2] if "choices" in e]
    assert chunks[0]["routeweave"]["session_id"] == error["session_id"] == got[-2]["routeweave"]["session_id"]
    assert said(down, f"session {error['session_id']} failed: ", "the router's call failed")  # in the server's log
    assert not [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]  # nothing claims "stop"
    assert not [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]  # no fallback text
    assert any(c.get("usage") for c in chunks)  # what it spent, still said
    client = openai.OpenAI(base_url=down.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIError, match="the session failed"):
        list(client.chat.completions.create(model="routeweave-r1", messages=QUESTION, stream=True))
    assert metric(down, model="routeweave-r1", status="502") == before + 2


# -- 3. small ones: empty messages, query values, HEAD, unknown paths, option names --------------------------


@pytest.mark.parametrize("content", ["", "   ", [{"type": "text", "text": " "}]])
def test_an_empty_message_is_called_empty(down, content):
    response = httpx.post(down.url + "/v1/chat/completions", json={"model": "routeweave-r1",
                                                                   "messages": [{"role": "user", "content": content}]})
    message = assert_openai_error(response, 400, "invalid_messages")["message"]
    assert "is empty" in message and "images" not in message


@pytest.mark.parametrize("limit", ["-1", "0", "1001", "1000000", "abc", ""])
def test_sessions_limit_out_of_range_is_a_400(down, limit):
    error = assert_openai_error(httpx.get(down.url + f"/v1/sessions?limit={limit}", timeout=30), 400, "invalid_value")
    assert error["param"] == "limit" and "from 1 to 1000" in error["message"]


def test_sessions_limit_in_range(down):
    chat(down)
    assert len(httpx.get(down.url + "/v1/sessions?limit=1", timeout=30).json()["data"]) == 1
    assert httpx.get(down.url + "/v1/sessions?limit=1000", timeout=30).status_code == 200


def test_head_healthz(down):
    response = httpx.head(down.url + "/healthz", timeout=30)
    assert response.status_code == 200 and response.content == b""


def test_readyz_probes_only_what_the_instance_runs(down):
    """Its pool's models are remote (not probed: a probe would be a paid call), so ready means the checkpointer answers."""
    assert httpx.get(down.url + "/readyz", timeout=30).json() == {"status": "ready", "model_servers": {}, "checkpointer": "ok",
                                                                  "traces": "ok"}
    assert httpx.head(down.url + "/readyz", timeout=30).status_code == 200


@pytest.mark.parametrize("method, path, status", [("GET", "/readyz/x", 404), ("GET", "/v1/nope", 404), ("POST", "/healthz", 405),
                                                  ("POST", "/readyz", 405),
                                                  ("GET", "/v1/chat/completions", 405), ("GET", "/livez/deep/x", 404)])
def test_unknown_paths_and_methods_are_openai_errors(down, method, path, status):
    error = assert_openai_error(httpx.request(method, down.url + path, timeout=30), status)
    assert path in error["message"] and ("/v1/chat/completions" in error["message"] or "use" in error["message"])


def test_the_ui_keeps_its_paths(down):
    assert httpx.get(down.url + "/ui/", timeout=60).status_code == 200
    assert httpx.get(down.url + "/ui", timeout=60, follow_redirects=True).status_code == 200


@pytest.mark.parametrize("options, param, code", [
    ({"budget_usd": -1}, "routeweave.budget_usd", "invalid_option"),
    ({"max_rounds": 0}, "routeweave.max_rounds", "invalid_option"),
    ({"budget_usd": 0.01, "max_tokens": "many"}, "routeweave.max_tokens", "invalid_option"),
    ({"experts": []}, "routeweave.experts", "invalid_option"),
    ({"experts": [], "max_rounds": 0}, "routeweave.max_rounds", "invalid_option"),  # the one the message names
    ({"experts": ["Nobody"]}, "routeweave.experts", "invalid_option"),
    ({"budget": 1}, "routeweave.budget", "unknown_option"),
    ({"include_steps": "yes"}, "routeweave.include_steps", "invalid_option"),
])
def test_an_option_error_names_the_option(down, options, param, code):
    error = assert_openai_error(chat(down, routeweave=options), 400, code)
    assert error["param"] == param and param.removeprefix("routeweave.") in error["message"], error


def test_json_nested_too_deep_is_a_400(down):
    for depth in (100, 1000, 20_000):
        body = b'{"model":' * depth + b"1" + b"}" * depth
        response = httpx.post(down.url + "/v1/chat/completions", content=body, timeout=30)
        assert "nested" in assert_openai_error(response, 400, "invalid_json")["message"]
    assert chat(down, model="routeweave-direct", metadata={"a": {"b": {"c": "d"}}}).status_code == 502  # not too deep


# -- 4. a client that left is counted as 499 -----------------------------------------------------------------


def test_a_client_that_left_is_counted_499_not_200(down):
    body = {"model": "routeweave-single-shot", "messages": QUESTION, "routeweave": {"experts": ["Slow"]}}
    url = down.url + "/v1/chat/completions"
    ok = metric(down, model="routeweave-single-shot", status="200")
    assert httpx.post(url, json=body, timeout=60).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=body, timeout=0.5)  # leaves while the expert answers
    with httpx.stream("POST", url, json={**body, "stream": True}, timeout=60) as left:
        next(left.iter_lines())  # the first chunk, then away
    deadline = time.monotonic() + 30
    while metric(down, model="routeweave-single-shot", status="499") < 2:
        assert time.monotonic() < deadline, "the requests whose clients left were never counted 499"
        time.sleep(0.2)
    assert metric(down, model="routeweave-single-shot", status="200") == ok + 1


# -- 2. anything unexpected is an OpenAI-shaped 500 with the session id, logged once ---------------------------


class Broken:
    """A graph whose engine fails mid-session the way a lost database connection does."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def new_session_id(self) -> str:
        return "broken-session"

    async def ainvoke(self, inputs, *, session_id):
        raise self.exc

    async def astream(self, inputs, *, session_id):
        from routeweave.graphs import make_step

        yield {"type": "step", "step": make_step("think", 0, expert="router", text="look it up")}
        raise self.exc


@pytest.fixture
def in_process(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from routeweave.serving import Service
    from routeweave.ui.http_app import create_app
    from support.serve import write_mock_pool

    service = Service(write_mock_pool(tmp_path), db_path=tmp_path / "rw.db", cache_dir=tmp_path)  # not started
    fault = OSError("connection to server at 10.0.0.5, port 5432 failed: Connection refused")
    service.graph = lambda model: Broken(fault)  # type: ignore[method-assign]
    monkeypatch.delenv("ROUTEWEAVE_API_KEY", raising=False)
    with TestClient(create_app(service, ui=False)) as client:
        yield client, service


def http_log(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "routeweave.http"]


def test_an_unexpected_exception_is_an_openai_500_with_the_session_id(in_process, caplog):
    from routeweave.serving.metrics import REGISTRY

    client, _ = in_process
    counted = REGISTRY.get_sample_value("routeweave_requests_total", {"model": "routeweave-r1", "status": "500"}) or 0
    with caplog.at_level(logging.ERROR, logger="routeweave.http"):
        response = client.post("/v1/chat/completions", json={"model": "routeweave-r1", "messages": QUESTION})
    error = assert_openai_error(response, 500, "internal_error")
    assert error["type"] == "server_error" and "OSError: connection to server at 10.0.0.5" in error["message"], error
    assert error["session_id"] and error["session_id"] in error["message"]
    records = http_log(caplog)
    assert len(records) == 1 and records[0].exc_info and error["session_id"] in records[0].getMessage()  # logged once
    assert REGISTRY.get_sample_value("routeweave_requests_total", {"model": "routeweave-r1", "status": "500"}) == counted + 1


def test_an_unexpected_exception_outside_a_session_is_an_openai_500(in_process, caplog):
    client, service = in_process

    def lost(limit):
        raise ConnectionError("the trace database went away")

    service.engine.traces.recent = lost
    with caplog.at_level(logging.ERROR, logger="routeweave.http"):
        error = assert_openai_error(client.get("/v1/sessions"), 500, "internal_error")
    assert "ConnectionError: the trace database went away" in error["message"] and "session_id" not in error
    assert len(http_log(caplog)) == 1


def test_an_unexpected_exception_mid_stream_is_an_error_event_with_the_session_id(in_process, caplog):
    client, _ = in_process
    with caplog.at_level(logging.ERROR, logger="routeweave.http"):
        response = client.post("/v1/chat/completions", json={"model": "routeweave-r1", "messages": QUESTION, "stream": True})
    got = events(response.text)
    assert got[-1] == "[DONE]" and got[-2]["error"]["type"] == "server_error"
    assert got[-2]["error"]["session_id"] == got[0]["routeweave"]["session_id"]
    assert "OSError" in got[-2]["error"]["message"]
    assert len(http_log(caplog)) == 1 and http_log(caplog)[0].exc_info
