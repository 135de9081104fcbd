"""The HTTP service's errors, every one in OpenAI's shape `{"error": {"message", "type", "param", "code"}}`:
routeweave's own (`APIError`), a path it does not serve (404) or a method it does not allow (405), and
anything unexpected (a database gone mid-request, a bug): a 500 `server_error` naming the exception and,
once a session has started, its `session_id`; the traceback is logged once, on the `routeweave.http` logger.
The chat UI under /ui keeps its own errors."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .openai_wire import APIError

log = logging.getLogger("routeweave.http")
ROUTES = "POST /v1/chat/completions, GET /v1/models, /v1/models/{id}, /v1/sessions, /v1/sessions/{id}, /healthz, /readyz, /metrics"


def unexpected(exc: BaseException, session_id: str | None = None) -> APIError:
    """The reply to an exception nobody expected (the server's fault, not the request's)."""
    where = f" in session {session_id} (its steps so far: GET /v1/sessions/{session_id})" if session_id else ""
    return APIError(500, f"the server failed{where}: {type(exc).__name__}: {exc}. This is not the request's fault: "
                         "retry; if it persists, the traceback is in the server's log", type="server_error",
                    code="internal_error", session_id=session_id)


def shutting_down(session_id: str | None = None) -> APIError:
    """The reply to a request still running when the server's graceful timeout ran out (uvicorn cancels it)."""
    stored = (f"; session {session_id} is stored unfinished: `routeweave resume {session_id}` (with the server's "
              f"--db) finishes it without repeating its paid calls") if session_id else ""
    return APIError(503, f"the server is shutting down and this request was still running when its --graceful-timeout "
                         f"ran out{stored}. Retry the request (on another instance, or once this one is back)",
                    type="server_error", code="shutting_down", session_id=session_id)


def log_failed(error: APIError) -> APIError:
    """A session that failed (the 502 `session_failed`) is said in the server's log too: the client may not say."""
    log.warning("session %s failed: %s", error.session_id, error.message.split(". Check")[0])
    return error


def log_unexpected(exc: BaseException, what: str, session_id: str | None = None) -> None:
    log.error("%s failed%s", what, f" (session {session_id})" if session_id else "", exc_info=exc)


class CatchAll:
    """ASGI middleware: an exception no handler took becomes an OpenAI-shaped 500 (Starlette's own answer is a
    plain-text 'Internal Server Error'); the handlers put the session's id in `request.state.session_id`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})  # the dict request.state writes to
        started = False

        async def tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:  # the graceful timeout ran out: say so (uvicorn's own answer is a plain 500)
            if not started:
                await shutting_down(state.get("session_id")).response({"Retry-After": "1"})(scope, receive, send)
            raise  # still cancelled: uvicorn logs one line (serve's filter) and closes the connection
        except Exception as exc:  # noqa: BLE001  answered here, logged once, not raised on to uvicorn
            session_id = state.get("session_id")
            log_unexpected(exc, f"{scope.get('method')} {scope.get('path')}", session_id)
            if not started:  # else the reply is half sent: the connection just ends
                await unexpected(exc, session_id).response()(scope, receive, send)


def _is_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def install(app: FastAPI, *, ui: bool) -> None:
    routes = ROUTES + (" and the chat UI at /ui/" if ui else "")

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        path = request.url.path
        if _is_ui(path):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 404:
            return APIError(404, f"no such path: {request.method} {path}; routeweave serves {routes}",
                            code="not_found").response()
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow")
            return APIError(405, f"{request.method} is not allowed on {path}" + (f"; use {allowed}" if allowed else ""),
                            code="method_not_allowed").response(exc.headers)
        return APIError(exc.status_code, str(exc.detail)).response(exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return APIError(400, f"{where}: {first.get('msg', 'invalid request')}", param=where or None).response()

    app.add_middleware(CatchAll)
