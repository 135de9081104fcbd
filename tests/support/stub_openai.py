"""A small, real OpenAI-compatible HTTP server on 127.0.0.1 whose behaviour is chosen by the request's
`model`: the experts of fault tests and load tests. It runs uvicorn in a background thread.

    ok            a short answer, with usage
    ok:TEXT       answers TEXT
    slow:SECONDS  answers after a delay
    500           HTTP 500
    429           HTTP 429 (rate limited)
    hang          never answers (the client's timeout must fire)
    garbage       200 with a body that is not JSON
    empty         200 with an empty answer
    flaky:N       fails with 500 on the first N calls of that model name, then answers
    words:N       answers with N words
    router:NAME   a Router-R1 router: searches expert NAME until it has read an <information> block, then answers

Usage: prompt tokens ~ characters of the messages / 4; completion tokens = words of the answer. A suffix
changes what is reported, to play a dishonest provider:

    MODE+lie=P,C     reports P prompt and C completion tokens, whatever was sent and answered
    MODE+nousage     reports no usage at all
    MODE+prompt*K    reports K times the prompt tokens (a tokenizer that counts more than ours)
    MODE+usage=P,C   reports P and C as given: a JSON number, `-` to leave the field out, else that text
    MODE+logprob=X   reports log-probability X for every token (word) of the answer (a cascade's confidence exp(X))
    MODE+length      reports finish_reason 'length': the answer was cut at max_tokens
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _misreport(reply: dict, modifier: str) -> dict:
    usage = reply["usage"]
    if modifier == "nousage":
        reply.pop("usage")
    elif modifier.startswith("lie="):
        p, c = (int(x) for x in modifier[4:].split(","))
        reply["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    elif modifier.startswith("usage="):
        reply["usage"] = {}
        for field, raw in zip(("prompt_tokens", "completion_tokens"), modifier[6:].split(",")):
            if raw != "-":
                try:
                    reply["usage"][field] = json.loads(raw)
                except ValueError:
                    reply["usage"][field] = raw
    elif modifier == "length":
        reply["choices"][0]["finish_reason"] = "length"
    elif modifier.startswith("logprob="):
        words = reply["choices"][0]["message"]["content"].split()
        reply["choices"][0]["logprobs"] = {"content": [{"token": w, "logprob": float(modifier[8:]), "bytes": None,
                                                        "top_logprobs": []} for w in words]}
    elif modifier.startswith("prompt*"):
        usage["prompt_tokens"] = int(usage["prompt_tokens"] * float(modifier[7:]))
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return reply


def _answer(model: str, text: str, prompt_tokens: int = 20) -> dict:
    return {
        "id": "stub", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                  "total_tokens": prompt_tokens + len(text.split())},
    }


class StubServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.calls: Counter[str] = Counter()
        self.active: Counter[str] = Counter()  # requests of each model being answered right now
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: Request):
        body = await request.json()
        model = str(body.get("model", "ok")).split("/")[-1]
        self.calls[model] += 1
        base, _, modifier = model.partition("+")
        self.active[model] += 1
        try:
            response = await self._reply(base, model, body)
        finally:
            self.active[model] -= 1
        if modifier and isinstance(response, JSONResponse) and response.status_code == 200:
            response = JSONResponse(_misreport(json.loads(response.body), modifier))
        return response

    async def _reply(self, model: str, full: str, body: dict):
        mode, _, arg = model.partition(":")
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
        if mode == "words":
            return JSONResponse(_answer(model, " ".join(["word"] * int(arg or 1)), prompt_tokens))
        if mode == "ok":
            return JSONResponse(_answer(model, arg or "Paris is the capital of France."))
        if mode == "slow":
            await asyncio.sleep(float(arg or 0.1))
            return JSONResponse(_answer(model, "A slow answer."))
        if mode in ("500", "429"):
            return JSONResponse({"error": {"message": f"stub {mode}", "type": "server_error"}}, status_code=int(mode))
        if mode == "hang":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:  # the client gave up: that is the point
                return PlainTextResponse("", status_code=499)
        if mode == "garbage":
            return PlainTextResponse("<html>this is not json", status_code=200, media_type="application/json")
        if mode == "empty":
            return JSONResponse(_answer(model, ""))
        if mode == "router":
            seen = any("<information>" in str(m.get("content") or "") for m in body.get("messages", [])
                       if m.get("role") != "system")  # the system prompt names the tag too
            text = "<think>done</think><answer>1889</answer>" if seen else f"<think>ask</think><search>{arg}: when?</search>"
            return JSONResponse(_answer(model, text, prompt_tokens))
        if mode == "flaky":
            if self.calls[full] <= int(arg or 1):
                return JSONResponse({"error": {"message": "stub flaky", "type": "server_error"}}, status_code=500)
            return JSONResponse(_answer(model, "Recovered answer."))
        return JSONResponse({"error": {"message": f"unknown stub mode {model}"}}, status_code=400)

    def start(self) -> "StubServer":
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                backlog=4096, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_stub_pool(path, stub: "StubServer", *, router: str, experts: dict[str, str], router_price: float = 0.1,
                    tables: str = "", expert_lines: dict[str, str] | None = None):
    """A pool file whose router and experts are this stub's models ("openai/<model>"): `router` is the router's
    model string (e.g. "router:Fast, Slow"), `experts` name -> model, `tables` extra TOML tables ([limits],
    [reliability]), `expert_lines` name -> extra lines of that expert. Returns the path."""
    lines = ["[router]", f'model = "openai/{router}"', f'api_base = "{stub.api_base}"', "grammar = false",
             f"price = {{ input_per_m = {router_price}, output_per_m = {router_price} }}", tables.strip()]
    for name, model in experts.items():
        lines += ["[[experts]]", f'name = "{name}"', f'model = "openai/{model}"', f'api_base = "{stub.api_base}"',
                  f'description = "{name.lower()}"', "price = { input_per_m = 1.0, output_per_m = 1.0 }",
                  (expert_lines or {}).get(name, "")]
    path.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    return path
