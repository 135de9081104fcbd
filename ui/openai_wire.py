"""OpenAI's wire format for the HTTP service: parsing a chat-completions request (the question, routeweave's
own options) and shaping replies and errors (`{"error": {"message", "type", "param", "code"}}`)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ..serving import SessionCaps

FINISH = {"answered": "stop", "budget": "length", "overspent": "length", "refused": "content_filter"}
OPTION_KEYS = {*SessionCaps.model_fields, "include_steps"}


class APIError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {"Retry-After": "1"} if self.status == 429 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json")


# -- request parsing ------------------------------------------------------------------------------------


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise APIError(413, f"the request body is {length} bytes; the limit is {limit}", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"the request body is over the limit of {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, "the body must be a JSON object", code="invalid_json")
    return body


def text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts):
            return "\n".join(parts)
    return None


def question_of(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages",
                       code="missing_messages" if messages is None else "invalid_messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise APIError(400, f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]", code="invalid_messages")
    users = [m for m in messages if m["role"] == "user"]
    if not users:
        raise APIError(400, "'messages' has no 'user' message to answer", param="messages", code="invalid_messages")
    text = text_of(users[-1].get("content"))
    if text is None or not text.strip():
        raise APIError(400, "the last user message has no text content", param="messages", code="invalid_messages")
    return text.strip()


def parse_options(body: dict[str, Any]) -> tuple[SessionCaps, bool]:
    """The request's `routeweave` object: session caps, and whether to include the steps in the reply."""
    options = body.get("routeweave") or {}
    if not isinstance(options, dict):
        raise APIError(400, "'routeweave' must be an object", param="routeweave")
    unknown = set(options) - OPTION_KEYS
    if unknown:
        raise APIError(400, f"unknown routeweave option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(OPTION_KEYS))}",
                       param="routeweave")
    caps = {k: v for k, v in options.items() if k != "include_steps"}
    try:
        return SessionCaps.parse(caps, prefix="routeweave."), bool(options.get("include_steps"))
    except ValueError as exc:
        raise APIError(400, str(exc), param="routeweave") from None


# -- responses ------------------------------------------------------------------------------------------


def usage_of(result: dict[str, Any]) -> dict[str, int]:
    p, c = int(result["prompt_tokens"]), int(result["completion_tokens"])
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def extra_fields(result: dict[str, Any], spec, budget_usd: float, include_steps: bool, wall_s: float) -> dict[str, Any]:
    extra = {
        "session_id": result["session_id"],
        "cost_usd": result["cost_usd"],
        "cost_units": result["cost_units"],
        "budget_usd": budget_usd,
        "overspent_usd": result.get("overspent_usd") or 0.0,
        "stop_reason": result["stop_reason"],
        "rounds": result["rounds"],
        "expert_calls": result["expert_calls"],
        "latency_s": result["latency_s"],
        "wall_s": wall_s,  # the graph's wall time in the server (what HTTP adds is the rest of the round trip)
        "graph": spec.graph,
        "policy": spec.policy,
        "trace_url": f"/v1/sessions/{result['session_id']}",
    }
    if include_steps:
        extra["steps"] = result["steps"]
    return extra
