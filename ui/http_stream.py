"""The streamed reply of POST /v1/chat/completions (chat.completion.chunk SSE, as ui/http_app.py describes):
the chunks of one session, and the response that counts the request when its stream ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from ..serving import count_request, json_text
from . import http_errors
from .openai_wire import APIError, extra_fields, finish_reason, session_failure, usage_of
from .steps import step_line


class CountedStream(StreamingResponse):
    """A stream counted in the request metrics when it ends (`done(status)`, set by the app; else the metrics
    alone): 499 if the client left before its end."""

    def __init__(self, content, model: str, outcome: dict[str, Any], **kwargs) -> None:
        super().__init__(content, **kwargs)
        self.model, self.outcome = model, outcome
        self.done: Callable[[int], None] = lambda status: count_request(model, status)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError:  # the graceful timeout ran out mid-stream: the stream ends with the error
            self.outcome["status"], self.outcome["sent"] = 503, True
            event = http_errors.shutting_down(scope.get("state", {}).get("session_id")).event()
            await send({"type": "http.response.body", "body": event + b"data: [DONE]\n\n", "more_body": False})
            raise
        finally:
            self.done(self.outcome["status"] if self.outcome["sent"] else 499)


async def session_stream(graph, inputs, session_id, model_id, spec, budget, include_steps, include_usage, ignored,
                  notes, outcome) -> AsyncIterator[bytes]:
    created = int(time.time())
    base = {"id": f"chatcmpl-{session_id}", "object": "chat.completion.chunk", "created": created, "model": model_id}

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return b"data: " + json_text({**base, "choices": choices, **extra}, separators=(",", ":")).encode() + b"\n\n"

    yield chunk({"role": "assistant", "content": ""}, routeweave={"session_id": session_id})
    started = time.perf_counter()
    try:
        async for event in graph.astream(inputs, session_id=session_id):
            if event["type"] == "step":
                step = event["step"]
                yield chunk({"reasoning_content": step_line(step) + "\n"}, routeweave={"step": step})
                continue
            result = event
            wall_s = time.perf_counter() - started
            extra = extra_fields(result, spec, budget, include_steps, wall_s, ignored, notes)
            failure = session_failure(result, extra)
            if failure is None:  # a failed session's fallback text is no answer: no content, no finish_reason
                if result["answer"]:
                    yield chunk({"content": result["answer"]})
                yield chunk({}, finish_reason(result), routeweave=extra)
            if include_usage:
                yield chunk(None, usage=usage_of(result), routeweave={"session_id": session_id, "cost_usd": result["cost_usd"]})
            if failure is not None:  # the status line has gone out: the error is an event
                outcome["status"] = http_errors.log_failed(failure).status
                yield failure.event()
    except ValueError as exc:  # bad inputs found by the graph: the headers are sent, so the error is an event
        outcome["status"] = 400
        yield APIError(400, str(exc), session_id=session_id).event()
    except Exception as exc:  # noqa: BLE001  an engine failure ends the stream with an error event, not a hang
        http_errors.log_unexpected(exc, f"the stream of {model_id}", session_id)
        outcome["status"] = 500
        yield http_errors.unexpected(exc, session_id).event()
    yield b"data: [DONE]\n\n"
