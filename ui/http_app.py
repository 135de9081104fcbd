"""The OpenAI-compatible HTTP service: one FastAPI app over one Service (one Engine, every model name).

    POST /v1/chat/completions   stream or not; `model` picks the graph/policy (GET /v1/models lists them)
    GET  /v1/models, /v1/models/{id}
    GET  /v1/sessions?limit=N   recent sessions;  GET /v1/sessions/{id}   one session's trace, step by step
    GET  /healthz;  GET /metrics   Prometheus text (serving/metrics.py lists the metrics)
    /ui                         the Gradio chat UI (when mounted)

The question is the last `user` message (the graphs answer one question; earlier turns are not sent to
them). `usage` is the whole session's tokens, router and experts. routeweave's own fields travel in an
extra `routeweave` object, on the reply and (streaming) on chunks; a request may carry one too
(`extra_body={"routeweave": {...}}` in the openai client): `budget_usd`, `max_rounds`, `max_tokens`
(session caps that only lower the server's), `experts` (a subset of the enabled ones) and `include_steps`.
OpenAI's sampling parameters are checked, not applied, and named in the reply's `routeweave.ignored_params`;
any other top-level field is a 400 naming it (``openai_wire.ignored_params``).

Streaming (chat.completion.chunk SSE): each step arrives as it happens as one line of
`delta.reasoning_content` (the field reasoning models use; clients that don't know it ignore it) plus the
structured step in the chunk's `routeweave.step`; then the answer as `delta.content`; then a chunk with
`finish_reason` and `routeweave` (session id, cost); then, with `stream_options.include_usage`, the usage
chunk; then `[DONE]`.

Errors are OpenAI's shape `{"error": {"message", "type", "param", "code"}}` with a 4xx status: bad JSON,
a body over the limit (413), missing messages, an unknown model (404), a bad option (400), a missing or
wrong API key (401) when `ROUTEWEAVE_API_KEY` is set."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..serving import DEFAULT_MODEL, Service, count_overload, count_request, json_text, render_metrics
from .openai_wire import (
    APIError,
    extra_fields,
    finish_reason,
    ignored_params,
    json_response,
    parse_options,
    question_of,
    read_json,
    unread_messages,
    usage_of,
)
from .steps import step_line

API_KEY_ENV = "ROUTEWEAVE_API_KEY"
MAX_BODY_BYTES = 256 * 1024


def _unfitted(model_id: str) -> str:
    """Why a routeweave-<policy> name is not served: a learned policy not yet fitted for this pool."""
    from ..serving.policies import is_learned_policy

    name = model_id.removeprefix("routeweave-")
    if model_id.startswith("routeweave-") and is_learned_policy(name):
        return f" (the '{name}' policy learns from recorded outcomes: fit it for this pool with `routeweave fit`, then restart)"
    return ""


def create_app(service: Service, *, api_key: str | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               ui: bool = True, max_sessions: int = 0) -> FastAPI:
    """The ASGI app. `api_key=None` reads ROUTEWEAVE_API_KEY (empty or unset: no auth). `max_sessions` > 0
    caps the sessions in flight: one more gets a 429 at once (Retry-After: 1) instead of slowing every
    admitted session down (all sessions share one event loop and advance a step in turn)."""
    in_flight = [0]
    drivers: set[asyncio.Task] = set()  # streamed sessions being driven (a reference keeps each task alive)
    api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    app = FastAPI(title="routeweave", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if not request.url.path.startswith("/v1"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return APIError(exc.status_code, str(exc.detail), code=code).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return APIError(400, f"{where}: {first.get('msg', 'invalid request')}", param=where or None).response()

    def authorize(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise APIError(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                           type="authentication_error", code="invalid_api_key")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "models": len(service.models), "experts": service.expert_names(), "pid": os.getpid(),
                "model_servers": service.model_servers()}

    @app.get("/")
    async def root():
        return RedirectResponse("/ui/" if ui else "/v1/models")

    def model_card(spec) -> dict[str, Any]:
        return {"id": spec.id, "object": "model", "created": 0, "owned_by": "routeweave",
                "graph": spec.graph, "policy": spec.policy, "description": spec.description}

    @app.get("/v1/models")
    async def models(request: Request):
        authorize(request)
        return {"object": "list", "data": [model_card(s) for s in service.models.values()]}

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str, request: Request):
        authorize(request)
        if model_id not in service.models:
            raise APIError(404, f"unknown model '{model_id}'", param="model", code="model_not_found")
        return model_card(service.models[model_id])

    @app.get("/v1/sessions")
    async def sessions(request: Request, limit: int = 20):
        authorize(request)
        return {"object": "list", "data": service.traces.recent(max(1, min(limit, 200)))}

    @app.get("/v1/sessions/{session_id}")
    async def session(session_id: str, request: Request):
        authorize(request)
        found = service.traces.get(session_id)
        if found is None:
            raise APIError(404, f"no session '{session_id}'", param="session_id", code="session_not_found")
        return found

    @app.get("/metrics")
    async def metrics_text(request: Request):
        authorize(request)
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        request.state.model = "unknown"
        try:
            response = await chat(request)
        except APIError as exc:
            count_request(request.state.model, exc.status)
            raise
        count_request(request.state.model, 200)
        return response

    async def chat(request: Request):
        authorize(request)
        body = await read_json(request, max_body_bytes)
        model_id = body.get("model")
        if not isinstance(model_id, str) or not model_id:
            raise APIError(400, f"'model' is required, e.g. '{DEFAULT_MODEL}' (GET /v1/models lists them)", param="model",
                           code="missing_model")
        if model_id not in service.models:
            raise APIError(404, f"unknown model '{model_id}'{_unfitted(model_id)}; known: {', '.join(service.models)}",
                           param="model", code="model_not_found")
        request.state.model = model_id
        question = question_of(body)
        ignored, unread = ignored_params(body), unread_messages(body)
        caps, include_steps = parse_options(body)
        notes = {"ignored_messages": unread, "capped": caps.capped(service.pool)}  # said in the reply
        stream = False if body.get("stream") is None else body["stream"]
        if not isinstance(stream, bool):
            raise APIError(400, "'stream' must be true or false", param="stream")
        stream_options = body.get("stream_options") or {}
        if not isinstance(stream_options, dict):
            raise APIError(400, "'stream_options' must be an object", param="stream_options")
        if stream_options and not stream:
            raise APIError(400, "'stream_options' is only allowed when 'stream' is true", param="stream_options")
        try:
            caps.constraints(service.pool)  # unknown or disabled experts are a 400 before anything runs
        except ValueError as exc:
            raise APIError(400, str(exc), param="routeweave.experts") from None
        inputs = service.session_inputs(question, caps)
        spec = service.models[model_id]
        graph = service.graph(model_id)
        budget = caps.budget(service.pool)
        if max_sessions and in_flight[0] >= max_sessions:
            count_overload()
            raise APIError(429, f"{in_flight[0]} sessions are running, the most this server admits; retry shortly",
                           type="rate_limit_error", code="too_many_sessions")
        in_flight[0] += 1
        if not stream:
            started = time.perf_counter()
            try:
                result = await graph.ainvoke(inputs)
            except ValueError as exc:
                raise APIError(400, str(exc)) from None
            finally:
                in_flight[0] -= 1
            wall_s = time.perf_counter() - started
            return json_response({
                "id": f"chatcmpl-{result['session_id']}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model_id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result["answer"]},
                             "finish_reason": finish_reason(result)}],
                "usage": usage_of(result),
                "routeweave": extra_fields(result, spec, budget, include_steps, wall_s, ignored, notes),
            })
        # The session is driven by its own task, which holds the admission slot until the session ends: a
        # client that leaves early (even before the first byte) neither leaks the slot nor frees it while its
        # session still runs (a session always runs to its end and is stored).
        pieces: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def drive() -> None:
            try:
                async for piece in _stream(graph, inputs, model_id, spec, budget, include_steps,
                                           bool(stream_options.get("include_usage")), ignored, notes):
                    pieces.put_nowait(piece)
            finally:
                in_flight[0] -= 1
                pieces.put_nowait(None)

        driver = asyncio.ensure_future(drive())
        drivers.add(driver)
        driver.add_done_callback(drivers.discard)

        async def relay() -> AsyncIterator[bytes]:
            while (piece := await pieces.get()) is not None:
                yield piece

        return StreamingResponse(
            relay(),
            media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    if ui:
        from .chat_app import mount_ui

        mount_ui(app, service, api_key=api_key)
    return app


async def _stream(graph, inputs, model_id, spec, budget, include_steps, include_usage, ignored,
                  notes) -> AsyncIterator[bytes]:
    session_id = uuid.uuid4().hex
    created = int(time.time())
    base = {"id": f"chatcmpl-{session_id}", "object": "chat.completion.chunk", "created": created, "model": model_id}

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return b"data: " + json_text({**base, "choices": choices, **extra}, separators=(",", ":")).encode() + b"\n\n"

    yield chunk({"role": "assistant", "content": ""}, routeweave={"session_id": session_id})
    started = time.perf_counter()
    try:
        async for event in graph.astream(inputs, session_id=session_id, new=True):
            if event["type"] == "step":
                step = event["step"]
                yield chunk({"reasoning_content": step_line(step) + "\n"}, routeweave={"step": step})
                continue
            result = event
            wall_s = time.perf_counter() - started
            if result["answer"]:
                yield chunk({"content": result["answer"]})
            yield chunk({}, finish_reason(result),
                        routeweave=extra_fields(result, spec, budget, include_steps, wall_s, ignored, notes))
            if include_usage:
                yield chunk(None, usage=usage_of(result), routeweave={"session_id": session_id, "cost_usd": result["cost_usd"]})
    except ValueError as exc:  # bad inputs found by the graph: the headers are sent, so the error is an event
        yield b"data: " + json.dumps(APIError(400, str(exc)).body()).encode() + b"\n\n"
    except Exception as exc:  # noqa: BLE001  an engine failure ends the stream with an error event, not a hang
        yield b"data: " + json.dumps(APIError(500, f"{type(exc).__name__}: {exc}", type="server_error").body()).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
