"""The OpenAI-compatible service: the `openai` client, unchanged, against real `routeweave serve` processes
on free ports (one without auth, one with ROUTEWEAVE_API_KEY). Models are mocked (LiteLLM mock_response),
so no llama.cpp server starts."""

from __future__ import annotations

import json
import re
import time

import httpx
import openai
import pytest

from support.serve import ServeProcess

KEY = "sk-test-routeweave"
QUESTION = [{"role": "user", "content": "When was the Eiffel Tower finished?"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServeProcess(tmp_path_factory.mktemp("serve-open")) as proc:
        yield proc


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    with ServeProcess(tmp_path_factory.mktemp("serve-key"), api_key=KEY, args=["--no-ui", "--max-body", "4096"]) as proc:
        yield proc


def client(proc: ServeProcess, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0, timeout=60)


def extra(obj) -> dict:
    return (obj.model_extra or {}).get("routeweave") or {}


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code:
        assert error["code"] == code
    return error


# -- answers ----------------------------------------------------------------------------------------------


def test_non_stream_usage_is_the_whole_session(server):
    reply = client(server).chat.completions.create(model="routeweave-r1", messages=QUESTION,
                                                   extra_body={"routeweave": {"include_steps": True}})
    assert reply.choices[0].message.content == "The Eiffel Tower was finished in March 1889."
    rw = extra(reply)
    steps = rw["steps"]
    assert {s["kind"] for s in steps} >= {"think", "route"}
    assert reply.usage.prompt_tokens == sum(s["prompt_tokens"] for s in steps) > 0
    assert reply.usage.completion_tokens == sum(s["completion_tokens"] for s in steps) > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert rw["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in steps)) and rw["cost_usd"] > 0
    assert rw["budget_usd"] == 0.01 and rw["graph"] == "router-r1"
    assert reply.id == f"chatcmpl-{rw['session_id']}"
    # the trace by id is the same session, stored
    trace = httpx.get(server.url + rw["trace_url"]).json()
    assert trace["session_id"] == rw["session_id"] and len(trace["steps"]) == len(steps)
    assert trace["cost_usd"] == pytest.approx(rw["cost_usd"])
    # steps only when asked
    plain = client(server).chat.completions.create(model="routeweave-r1", messages=QUESTION)
    assert "steps" not in extra(plain) and extra(plain)["session_id"] != rw["session_id"]


def significant_digits(number: str) -> int:
    mantissa = number.lower().split("e")[0].replace("-", "").replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if "." in number else len(mantissa)


def test_dollars_and_units_carry_no_binary_noise(server):
    """9.929999999999999e-05 is what a sum of prices looks like in binary; a reply says 9.93e-05."""
    body = {"model": "routeweave-r1", "messages": QUESTION, "routeweave": {"include_steps": True}}
    texts = [httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60).text]
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=60) as r:
        texts.append(r.read().decode())
    for text in texts:
        numbers = re.findall(r'(?<=[:\[,])-?\d+\.\d+(?:e-?\d+)?(?=[,}\]])', text)
        assert numbers and max(map(significant_digits, numbers)) <= 12, sorted(numbers, key=significant_digits)[-3:]


def test_stream_sends_steps_then_answer_then_usage(server):
    stream = client(server).chat.completions.create(model="routeweave-r1", messages=QUESTION, stream=True,
                                                    stream_options={"include_usage": True})
    reasoning, content, steps, finals, usage = [], [], [], [], None
    for chunk in stream:
        rw = extra(chunk)
        if chunk.usage:
            usage = chunk.usage
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if (delta.model_extra or {}).get("reasoning_content"):
            reasoning.append(delta.model_extra["reasoning_content"])
            assert not content, "route events come before the answer"
        if delta.content:
            content.append(delta.content)
        if "step" in rw:
            steps.append(rw["step"])
        if chunk.choices[0].finish_reason:
            finals.append(rw)
    assert "".join(content) == "The Eiffel Tower was finished in March 1889."
    assert len(reasoning) == len(steps) >= 3
    assert any(line.startswith("r1 route: Mock <- ") for line in reasoning)
    assert len(finals) == 1 and finals[0]["session_id"]
    assert usage is not None and usage.total_tokens == sum(s["prompt_tokens"] + s["completion_tokens"] for s in steps) > 0
    assert finals[0]["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in steps))


def test_models_health_and_every_model_answers(server):
    ids = [m.id for m in client(server).models.list()]
    assert {"routeweave-r1", "routeweave-single-shot", "routeweave-cascade", "routeweave-direct",
            "routeweave-cheapest", "routeweave-random"} <= set(ids)
    assert "routeweave-knn" not in ids  # a learned policy not fitted for this pool is not served under its name
    health = httpx.get(server.url + "/healthz").json()
    assert health["status"] == "ok" and health["experts"] == ["Mock", "Pricey"]
    for model in ids:
        reply = client(server).chat.completions.create(model=model, messages=QUESTION)
        assert reply.choices[0].message.content and extra(reply)["session_id"]
    unfitted = httpx.post(server.url + "/v1/chat/completions", json={"model": "routeweave-knn", "messages": QUESTION})
    assert "fit it for this pool with `routeweave fit`" in assert_openai_error(unfitted, 404, "model_not_found")["message"]
    other = httpx.post(server.url + "/v1/chat/completions", json={"model": "routeweave-nope", "messages": QUESTION})
    assert "routeweave fit" not in assert_openai_error(other, 404, "model_not_found")["message"]
    assert httpx.get(server.url + "/ui/").status_code == 200


def test_a_policy_fitted_for_the_pool_is_served_under_its_name(tmp_path):
    import numpy as np

    from routeweave.policies import OutcomeTable, get_policy
    from support.serve import write_mock_pool

    pool = write_mock_pool(tmp_path)
    pool.write_text('policies = "fitted"\n' + pool.read_text())
    queries = ["When was the Eiffel Tower finished?", "Who wrote Hamlet?", "What is 2 + 2?"] * 4
    table = OutcomeTable("t", [str(i) for i in range(12)], queries, ["Mock", "Pricey"],
                         np.tile([[0.2, 0.9]], (12, 1)), np.tile([[1e-5, 1e-3]], (12, 1)))
    get_policy("knn").fit(table).save(tmp_path / "fitted" / "knn")
    with ServeProcess(tmp_path, pool=pool, args=["--no-ui"]) as proc:
        card = httpx.get(proc.url + "/v1/models/routeweave-knn").json()
        assert card["policy"] == "knn" and "fitted for this pool" in card["description"]
        reply = client(proc).chat.completions.create(model="routeweave-knn", messages=QUESTION,
                                                     extra_body={"routeweave": {"include_steps": True}})
        decide = [s for s in extra(reply)["steps"] if s["kind"] == "decide"]
        assert decide[0]["expert"] == "Pricey" and decide[0]["text"].startswith("knn")  # the fitted one decided


def test_per_request_options(server):
    c = client(server)
    # a budget above the server's cap is lowered to it, never raised
    reply = c.chat.completions.create(model="routeweave-r1", messages=QUESTION, extra_body={"routeweave": {"budget_usd": 5.0}})
    assert extra(reply)["budget_usd"] == 0.01 and extra(reply)["capped"] == {"budget_usd": 0.01}  # said, not silent
    lowered = c.chat.completions.create(model="routeweave-r1", messages=QUESTION,
                                        extra_body={"routeweave": {"budget_usd": 0.0001, "max_rounds": 1}})
    assert extra(lowered)["budget_usd"] == 0.0001 and extra(lowered)["cost_usd"] <= 0.0001
    assert extra(lowered)["capped"] == {}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={
            "model": "routeweave-r1", "messages": QUESTION, "stream": True, "routeweave": {"max_rounds": 99}}) as r:
        last = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")][-1]
    assert last["routeweave"]["capped"] == {"max_rounds": 2}
    # the experts a request enables are the only ones a policy may pick
    picked = c.chat.completions.create(model="routeweave-cheapest", messages=QUESTION,
                                       extra_body={"routeweave": {"experts": ["Pricey"], "include_steps": True}})
    assert picked.choices[0].message.content == "1889."
    assert [s["expert"] for s in extra(picked)["steps"] if s["kind"] == "route"] == ["Pricey"]


# -- auth ---------------------------------------------------------------------------------------------------


def test_auth_off_needs_no_key(server):
    assert httpx.get(server.url + "/v1/models").status_code == 200


def test_auth_on(secured):
    with pytest.raises(openai.AuthenticationError):
        client(secured, "wrong-key").chat.completions.create(model="routeweave-r1", messages=QUESTION)
    response = httpx.post(secured.url + "/v1/chat/completions", json={"model": "routeweave-r1", "messages": QUESTION})
    assert_openai_error(response, 401, "invalid_api_key")
    assert_openai_error(httpx.get(secured.url + "/v1/models"), 401)
    open_health = httpx.get(secured.url + "/healthz")  # a balancer's check needs no key, and learns no addresses
    assert open_health.status_code == 200 and set(open_health.json()) == {"status", "models"}
    full = httpx.get(secured.url + "/healthz", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert {"pid", "model_servers", "experts"} <= set(full)
    reply = client(secured, KEY).chat.completions.create(model="routeweave-r1", messages=QUESTION)
    assert reply.choices[0].message.content
    stream = client(secured, KEY).chat.completions.create(model="routeweave-r1", messages=QUESTION, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


# -- bad input: a 4xx in OpenAI's shape, never a 500 ---------------------------------------------------------


def test_bad_json(server):
    response = httpx.post(server.url + "/v1/chat/completions", content=b'{"model": "routeweave-r1", "messages": [',
                          headers={"content-type": "application/json"})
    assert_openai_error(response, 400, "invalid_json")
    assert_openai_error(httpx.post(server.url + "/v1/chat/completions", content=b"[1, 2]"), 400, "invalid_json")
    assert_openai_error(httpx.post(server.url + "/v1/chat/completions", content=b"\xff\xfe"), 400, "invalid_json")


@pytest.mark.parametrize("body, code", [
    ({"model": "routeweave-r1"}, "missing_messages"),
    ({"model": "routeweave-r1", "messages": []}, "invalid_messages"),
    ({"model": "routeweave-r1", "messages": "hi"}, "invalid_messages"),
    ({"model": "routeweave-r1", "messages": [{"role": "system", "content": "x"}]}, "invalid_messages"),
    ({"model": "routeweave-r1", "messages": [{"role": "user", "content": "   "}]}, "invalid_messages"),
    ({"model": "routeweave-r1", "messages": [{"content": "no role"}]}, "invalid_messages"),
    ({"messages": QUESTION}, "missing_model"),
])
def test_bad_messages_or_model(server, body, code):
    assert_openai_error(httpx.post(server.url + "/v1/chat/completions", json=body), 400, code)


def test_openai_client_sees_4xx_errors(server):
    c = client(server)
    with pytest.raises(openai.NotFoundError) as unknown:
        c.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="routeweave-r1", messages=[])
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="routeweave-r1", messages=QUESTION, extra_body={"routeweave": {"budget_usd": -1}})
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="routeweave-r1", messages=QUESTION, extra_body={"routeweave": {"experts": ["Nobody"]}})
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="routeweave-r1", messages=QUESTION, extra_body={"routeweave": {"budget": 1}})
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="routeweave-r1", messages=QUESTION, stream=True,
                                  extra_body={"routeweave": {"max_rounds": 0}})


def test_openai_parameters_routeweave_does_not_apply_are_named_not_silently_dropped(server):
    c = client(server)
    reply = c.chat.completions.create(model="routeweave-r1", messages=QUESTION, temperature=0.2, max_tokens=50, user="u1")
    assert reply.choices[0].message.content
    assert extra(reply)["ignored_params"] == ["max_tokens", "temperature", "user"]
    plain = c.chat.completions.create(model="routeweave-r1", messages=QUESTION, n=1)  # one answer: what it gives
    assert extra(plain)["ignored_params"] == []
    newer = c.chat.completions.create(model="routeweave-r1", messages=QUESTION, safety_identifier="u-1", prompt_cache_key="k")
    assert extra(newer)["ignored_params"] == ["prompt_cache_key", "safety_identifier"]  # fields of today's openai client
    # hand-written JSON: null is the default, as for every other parameter
    null_stream = httpx.post(server.url + "/v1/chat/completions", json={"model": "routeweave-r1", "messages": QUESTION,
                                                                         "stream": None}, timeout=120)
    assert null_stream.status_code == 200 and null_stream.json()["object"] == "chat.completion"
    stream = c.chat.completions.create(model="routeweave-r1", messages=QUESTION, stream=True, seed=3)
    finals = [extra(ch) for ch in stream if ch.choices and ch.choices[0].finish_reason]
    assert finals and finals[-1]["ignored_params"] == ["seed"]


def test_a_reply_says_how_many_messages_of_the_conversation_the_session_did_not_read(server):
    c = client(server)
    talk = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who built the Eiffel Tower?"},
            {"role": "assistant", "content": "Gustave Eiffel's company."}, *QUESTION]
    assert extra(c.chat.completions.create(model="routeweave-r1", messages=talk))["ignored_messages"] == 3
    assert extra(c.chat.completions.create(model="routeweave-r1", messages=QUESTION))["ignored_messages"] == 0
    stream = c.chat.completions.create(model="routeweave-r1", messages=talk[1:], stream=True)
    finals = [extra(ch) for ch in stream if ch.choices and ch.choices[0].finish_reason]
    assert finals and finals[-1]["ignored_messages"] == 2


@pytest.mark.parametrize("field, value, says", [
    ("budget_usd", 0.001, "'budget_usd' is a routeweave option: send it inside the 'routeweave' object"),
    ("top_k", 20, "unrecognized request argument 'top_k'"),
    ("max_tokens", "lots", "'max_tokens' must be a whole number >= 1"),
    ("temperature", 9, "'temperature' must be a number in [0, 2]"),
    ("n", 2, "'n' must be 1: routeweave returns one answer per request"),
    ("tools", [{"type": "function", "function": {"name": "f"}}], "does not call a client's tools"),
    ("response_format", {"type": "json_object"}, "routeweave's answers are plain text"),
])
def test_a_parameter_routeweave_cannot_honour_is_a_400_naming_it(server, field, value, says):
    body = {"model": "routeweave-r1", "messages": QUESTION, field: value}
    error = assert_openai_error(httpx.post(server.url + "/v1/chat/completions", json=body), 400)
    assert error["param"] == field and says in error["message"]
    streamed = httpx.post(server.url + "/v1/chat/completions", json={**body, "stream": True})
    assert streamed.status_code == 400  # refused before the stream starts


@pytest.mark.parametrize("body, param, says", [
    ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when 'stream' is true"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Describe this."},
                                                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]},
     "messages", "the last user message must be text"),
    ({"messages": [{"role": "wizard", "content": "hi"}, *QUESTION]}, "messages[0].role", "it must be one of"),
    ({"routeweave": {"include_steps": "false"}}, "routeweave.include_steps", "must be true or false"),
])
def test_a_request_openai_would_refuse_is_refused_not_half_read(server, body, param, says):
    error = assert_openai_error(httpx.post(server.url + "/v1/chat/completions",
                                           json={"model": "routeweave-r1", "messages": QUESTION, **body}), 400)
    assert error["param"] == param and says in error["message"], error


def test_body_over_the_limit(secured):
    big = {"model": "routeweave-r1", "messages": [{"role": "user", "content": "x" * 10_000}]}
    headers = {"authorization": f"Bearer {KEY}"}
    assert_openai_error(httpx.post(secured.url + "/v1/chat/completions", json=big, headers=headers), 413, "request_too_large")

    def chunked():  # no content-length: the limit holds while reading
        yield json.dumps(big).encode()

    response = httpx.post(secured.url + "/v1/chat/completions", content=chunked(), headers=headers)
    assert_openai_error(response, 413, "request_too_large")
    with pytest.raises(openai.APIStatusError) as caught:
        client(secured, KEY).chat.completions.create(**big)
    assert caught.value.status_code == 413


def test_unknown_session_and_route(server):
    assert_openai_error(httpx.get(server.url + "/v1/sessions/nope"), 404, "session_not_found")
    assert_openai_error(httpx.get(server.url + "/v1/nothing-here"), 404)
    assert_openai_error(httpx.get(server.url + "/v1/chat/completions"), 405)
    asked = client(server).chat.completions.create(model="routeweave-r1", messages=[{"role": "user", "content": "When?"}])
    recent = httpx.get(server.url + "/v1/sessions?limit=2").json()["data"]
    assert len(recent) <= 2 and recent[0]["session_id"] == extra(asked)["session_id"]
    assert recent[0]["meta"] == httpx.get(server.url + f"/v1/sessions/{recent[0]['session_id']}").json()["meta"]
    assert isinstance(recent[0]["meta"], dict) and recent[0]["meta"]["experts"]  # an object, as one session's is
    assert_openai_error(httpx.get(server.url + "/v1/sessions?limit=abc"), 400)


def test_max_sessions_admits_up_to_the_cap_and_429s_the_rest(tmp_path):
    import asyncio

    from support.stub_openai import StubServer

    with StubServer() as stub:
        pool = tmp_path / "slow.toml"
        pool.write_text(f"""
[router]
model = "openai/r"
grammar = false
mock_response = "<think>t</think><answer>done</answer>"
[[experts]]
name = "Slow"
model = "openai/slow:1.5"
api_base = "{stub.api_base}"
description = "slow"
""")
        # the router answers at once, so make the graph slow through a single-shot session on the slow expert
        with ServeProcess(tmp_path, pool=pool, args=["--no-ui", "--max-sessions", "1"]) as proc:
            async def fire():
                async with httpx.AsyncClient(base_url=proc.url, timeout=60) as http:
                    body = {"model": "routeweave-single-shot", "messages": QUESTION}
                    return await asyncio.gather(*(http.post("/v1/chat/completions", json=body) for _ in range(3)))

            codes = sorted(r.status_code for r in asyncio.run(fire()))
            assert codes == [200, 429, 429], codes
            limited = httpx.post(proc.url + "/v1/chat/completions", json={"model": "routeweave-single-shot",
                                                                          "messages": QUESTION}, timeout=60)
            assert limited.status_code == 200  # the slot is free again

            # a streaming client that leaves after the first chunk: its session runs on, and holds the slot till it ends
            body = {"model": "routeweave-single-shot", "messages": QUESTION, "stream": True}
            with httpx.stream("POST", proc.url + "/v1/chat/completions", json=body, timeout=60) as left:
                first = next(left.iter_lines())
                session = json.loads(first.removeprefix("data: "))["routeweave"]["session_id"]
            while_running = httpx.post(proc.url + "/v1/chat/completions", json={**body, "stream": False}, timeout=60)
            assert while_running.status_code == 429
            deadline = time.monotonic() + 30
            while httpx.get(proc.url + f"/v1/sessions/{session}", timeout=30).json().get("finished") is None:
                assert time.monotonic() < deadline, "the left session never finished"
                time.sleep(0.1)
            for _ in range(50):  # the slot is given back as the session's stream ends, just after it is stored
                after = httpx.post(proc.url + "/v1/chat/completions", json={**body, "stream": False}, timeout=60)
                if after.status_code != 429:
                    break
                time.sleep(0.1)
            assert after.status_code == 200  # given back when it ended: not leaked


@pytest.mark.parametrize("router_model, finish", [("ok:The history of Rome is a tapestry of+length", "length"),
                                                  ("ok:Rome.", "stop")])
def test_an_answer_cut_at_its_token_limit_finishes_with_length(tmp_path, routeweave_cmd, router_model, finish):
    """The provider said finish_reason 'length' for the call that wrote the answer: the reply says so too
    (streamed or not), as OpenAI's API does, and `routeweave ask` marks the answer cut off."""
    import subprocess

    from support.stub_openai import StubServer

    with StubServer() as stub:
        pool = tmp_path / "cut.toml"
        pool.write_text(f'[router]\nmodel = "openai/{router_model}"\napi_base = "{stub.api_base}"\ngrammar = false\n\n'
                        f'[[experts]]\nname = "E"\nmodel = "openai/ok"\napi_base = "{stub.api_base}"\ndescription = "e"\n')
        with ServeProcess(tmp_path / "srv", pool=pool, args=["--no-ui"]) as proc:
            c = client(proc)
            ask = [{"role": "user", "content": "Tell me the history of Rome."}]
            reply = c.chat.completions.create(model="routeweave-direct", messages=ask)
            assert reply.choices[0].finish_reason == finish and reply.choices[0].message.content
            chunks = list(c.chat.completions.create(model="routeweave-direct", messages=ask, stream=True))
            assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == [finish]
        asked = subprocess.run([*routeweave_cmd, "ask", "Tell me the history of Rome.", "--graph", "direct", "--pool", str(pool),
                                "--trace-db", str(tmp_path / "t.db")], capture_output=True, text=True, timeout=120)
        assert asked.returncode == 0, asked.stderr
        assert ("[cut off at the answering call's token limit]" in asked.stdout) == (finish == "length"), asked.stdout
