"""The OpenAI-compatible HTTP service: one FastAPI app over one Service (one Engine, every model name).

    POST /v1/chat/completions   stream or not; `model` picks the graph/policy (GET /v1/models lists them)
    GET  /v1/models, /v1/models/{id}
    GET  /v1/sessions?limit=N   recent sessions (N: 1-1000, default 20);  GET /v1/sessions/{id}   one session's trace, step by step
    GET|HEAD /healthz (liveness), /readyz (readiness: 503 while a model server, the checkpointer or the traces fail)
    GET  /metrics               Prometheus text (serving/metrics.py lists the metrics)
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

Errors are OpenAI's shape `{"error": {"message", "type", "param", "code"}}` (ui/http_errors.py): 4xx for the
request's faults, 502 `session_failed` for a session that ended `failed` (no answer), 500 `server_error` for
anything unexpected (both with `error.session_id`), 503 `shutting_down` for a request still running when
serve's --graceful-timeout ran out (its session stays stored, unfinished). A stream's 200 is sent already: it
ends with the error as an event, `data: {"error": ...}`, then `[DONE]`. Request metrics count that error's status, or 499 when
the client left before the end of its reply."""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from ..serving import DEFAULT_MODEL, Service, count_overload, count_request, render_metrics
from . import http_errors
from .openai_wire import (
    APIError,
    extra_fields,
    finish_reason,
    ignored_params,
    json_response,
    parse_options,
    question_of,
    read_json,
    session_failure,
    unread_messages,
    usage_of,
)
from .http_stream import CountedStream, session_stream
from .serve_log import request_done

API_KEY_ENV = "ROUTEWEAVE_API_KEY"
MAX_BODY_BYTES = 256 * 1024
MAX_LIST = 1000  # sessions one GET /v1/sessions lists


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
    http_errors.install(app, ui=ui)

    def authorize(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise APIError(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                           type="authentication_error", code="invalid_api_key")

    @app.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz(request: Request):
        health = {"status": "ok", "models": len(service.models)}  # a load balancer's check needs no key
        try:
            authorize(request)
        except APIError:  # with a key set, the rest (the model servers' addresses: they take no key) is for its holders
            return health
        return {**health, "experts": service.expert_names(), "pid": os.getpid(), "model_servers": service.model_servers()}

    @app.api_route("/readyz", methods=["GET", "HEAD"])
    async def readyz(request: Request):
        """Readiness (a liveness check is /healthz): 503 while a model server, the checkpointer or the traces fail."""
        state = await service.readiness()
        try:
            authorize(request)
            detail = {k: state[k] for k in ("model_servers", "checkpointer", "traces")}
        except APIError:  # without the key: which parts fail, not their addresses or error texts
            detail = {"failing": [*(f"model server {n}" for n, v in state["model_servers"].items() if v != "ok"),
                                  *(part for part in ("checkpointer", "traces") if state[part] != "ok")]}
        body = {"status": "ready" if state["ready"] else "not_ready", **detail}
        return json_response(body, status=200 if state["ready"] else 503)

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
    async def sessions(request: Request):
        authorize(request)
        raw = request.query_params.get("limit", "20")
        if not (raw.isdecimal() and 1 <= int(raw) <= MAX_LIST):
            raise APIError(400, f"'limit' must be a whole number from 1 to {MAX_LIST}, got {raw[:40]!r}", param="limit",
                           code="invalid_value")
        return {"object": "list", "data": service.traces.recent(int(raw))}

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
        request.state.model, started = "unknown", time.perf_counter()

        def done(status: int) -> None:  # the request metrics and the access line (serve --access-log)
            count_request(request.state.model, status)
            request_done("POST", request.url.path, status, started, getattr(request.state, "asked", request.state.model),
                         getattr(request.state, "session_id", None))

        try:
            response = await chat(request)
        except APIError as exc:
            done(exc.status)
            raise
        except asyncio.CancelledError:  # the graceful timeout ran out: a 503 (http_errors.CatchAll)
            done(503)
            raise
        except Exception:
            done(500)
            raise  # answered by http_errors.CatchAll
        if isinstance(response, CountedStream):  # a stream is counted when it ends
            response.done = done
        else:
            done(499 if await request.is_disconnected() else response.status_code)
        return response

    async def chat(request: Request):
        authorize(request)
        body = await read_json(request, max_body_bytes)
        model_id = body.get("model")
        if isinstance(model_id, str) and model_id:
            request.state.asked = model_id[:200]  # the access line's model; the metrics' label stays "unknown" for an unknown one
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
            raise APIError(400, f"routeweave.experts: {exc}", param="routeweave.experts", code="invalid_option") from None
        inputs = service.session_inputs(question, caps)
        spec = service.models[model_id]
        graph = service.graph(model_id)
        budget = caps.budget(service.pool)
        if max_sessions and in_flight[0] >= max_sessions:
            count_overload()
            raise APIError(429, f"{in_flight[0]} sessions are running, the most this server admits; retry shortly",
                           type="rate_limit_error", code="too_many_sessions")
        in_flight[0] += 1
        session_id = request.state.session_id = graph.new_session_id()  # known to the 500 of an unexpected failure
        if not stream:
            started = time.perf_counter()
            try:
                result = await graph.ainvoke(inputs, session_id=session_id)
            except ValueError as exc:
                raise APIError(400, str(exc)) from None
            finally:
                in_flight[0] -= 1
            wall_s = time.perf_counter() - started
            extra = extra_fields(result, spec, budget, include_steps, wall_s, ignored, notes)
            if failure := session_failure(result, extra):
                raise http_errors.log_failed(failure)
            return json_response({
                "id": f"chatcmpl-{result['session_id']}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model_id,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result["answer"]},
                             "finish_reason": finish_reason(result)}],
                "usage": usage_of(result),
                "routeweave": extra,
            })
        # The session is driven by its own task, which holds the admission slot until the session ends: a
        # client that leaves early (even before the first byte) neither leaks the slot nor frees it while its
        # session still runs (a session always runs to its end and is stored).
        pieces: asyncio.Queue[bytes | None] = asyncio.Queue()
        outcome = {"status": 200, "sent": False}  # the status its error event carries; whether it was all sent

        async def drive() -> None:
            try:
                async for piece in session_stream(graph, inputs, session_id, model_id, spec, budget, include_steps,
                                           bool(stream_options.get("include_usage")), ignored, notes, outcome):
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
            outcome["sent"] = True

        return CountedStream(
            relay(), model_id, outcome,
            media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    if ui:
        from .chat_app import mount_ui

        mount_ui(app, service, api_key=api_key)
    return app
