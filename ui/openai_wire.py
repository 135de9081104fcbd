"""OpenAI's wire format for the HTTP service: parsing a chat-completions request (the question, routeweave's
own options) and shaping replies and errors (`{"error": {"message", "type", "param", "code"}}`, plus
`session_id` when the error belongs to a session)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ..serving import SessionCaps, json_text

FINISH = {"answered": "stop", "budget": "length", "overspent": "length", "refused": "content_filter"}


def finish_reason(result: dict[str, Any]) -> str:
    """OpenAI's finish_reason: 'length' also when the answer itself was cut at its call's token limit."""
    reason = FINISH.get(result["stop_reason"], "stop")
    return "length" if reason == "stop" and result.get("truncated") else reason


OPTION_KEYS = {*SessionCaps.model_fields, "include_steps"}
APPLIED = {"model", "messages", "stream", "stream_options", "routeweave"}
MAX_DEPTH = 64  # JSON nesting a request may have (an honest one nests about 5 deep)


def _num(lo: float, hi: float):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi, f"a number in [{lo:g}, {hi:g}]"


_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a whole number >= 1")
_STR = (lambda v: isinstance(v, str), "a string")
_BOOL = (lambda v: isinstance(v, bool), "true or false")
_OBJ = (lambda v: isinstance(v, dict), "an object")
# OpenAI chat-completions parameters that routeweave accepts and does not apply (the router's and the experts'
# decoding is set by the pool): checked like OpenAI checks them, then named in the reply's
# routeweave.ignored_params so a client knows they had no effect.
IGNORED = {
    "temperature": _num(0, 2), "top_p": _num(0, 1), "presence_penalty": _num(-2, 2), "frequency_penalty": _num(-2, 2),
    "max_tokens": _INT, "max_completion_tokens": _INT, "top_logprobs": (lambda v: isinstance(v, int) and 0 <= v <= 20, "0-20"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "stop": (lambda v: isinstance(v, str) or isinstance(v, list) and all(isinstance(x, str) for x in v), "a string or a list of strings"),
    "user": _STR, "service_tier": _STR, "reasoning_effort": _STR, "logprobs": _BOOL, "store": _BOOL,
    "parallel_tool_calls": _BOOL, "logit_bias": _OBJ, "metadata": _OBJ,
    "n": (lambda v: v == 1 and not isinstance(v, bool), "1: routeweave returns one answer per request"),
    "tools": (lambda v: v == [], "empty: routeweave answers with its pool's experts and does not call a client's tools"),
    "tool_choice": (lambda v: v in ("none", "auto"), "'none' or 'auto' (routeweave calls no client tools)"),
    "response_format": (lambda v: v == {"type": "text"}, '{"type": "text"}: routeweave\'s answers are plain text'),
    # newer fields of the openai client: about the provider's own caching, safety and verbosity, nothing routeweave has
    "safety_identifier": _STR, "prompt_cache_key": _STR, "prompt_cache_retention": _STR, "verbosity": _STR,
    "modalities": (lambda v: v == ["text"], '["text"]: routeweave answers in text only'),
    "functions": (lambda v: v == [], "empty: routeweave does not call a client's functions (nor 'tools')"),
    "function_call": (lambda v: v in ("none", "auto"), "'none' or 'auto' (routeweave calls no client functions)"),
}
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


class APIError(Exception):
    """An error reply: `session_id` joins the error object (the trace to read), `extra` the body's top level."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, session_id: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.session_id, self.extra = session_id, extra or {}

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": {**error, "session_id": self.session_id} if self.session_id else error, **self.extra}

    def event(self) -> bytes:
        """The error as a server-sent event: what a stream whose status line has gone out ends with."""
        return b"data: " + json_text(self.body(), separators=(",", ":")).encode() + b"\n\n"

    def response(self, headers: dict[str, str] | None = None) -> Response:
        headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if self.status == 401 else
                                         {"Retry-After": "1"} if self.status == 429 else {})}
        return Response(json_text(self.body(), separators=(",", ":")), status_code=self.status, headers=headers,
                        media_type="application/json")


def session_failure(result: dict[str, Any], extra: dict[str, Any] | None = None) -> APIError | None:
    """A session that ended `failed` (the router's model server is down, the only expert failed) has no answer,
    only a fallback text: a 502 naming the call that failed (from its steps), None for any other session."""
    if result["stop_reason"] != "failed":
        return None
    calls = [s for s in result["steps"] if s["error"] and s["kind"] != "notice" and not s["error"].startswith("not called")]
    who = calls and ("the router" if calls[-1]["expert"] in (None, "router") else f"expert {calls[-1]['expert']}")
    cause = f"{who}'s call failed: {calls[-1]['error'].rstrip('. ')}" if calls else "no model call answered"
    sid = result["session_id"]
    return APIError(502, f"the session failed, so there is no answer: {cause}. Check that model's server (GET /healthz "
                         f"lists the model servers) and retry; the session's steps: GET /v1/sessions/{sid}",
                    type="upstream_error", code="session_failed", session_id=sid, extra={"routeweave": extra} if extra else None)


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON reply whose dollar amounts read as amounts (12 significant digits: no 9.929999999999999e-05)."""
    return Response(json_text(data, separators=(",", ":")), status_code=status, media_type="application/json")


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
    except RecursionError:  # nested past what the parser can
        raise _nested_too_deep() from None
    if not isinstance(body, dict):
        raise APIError(400, "the body must be a JSON object", code="invalid_json")
    if _too_deep(body):
        raise _nested_too_deep()
    return body


def _nested_too_deep() -> APIError:
    return APIError(400, f"the body's JSON is nested more than {MAX_DEPTH} levels deep: send a chat-completions request "
                         "({model, messages, ...})", code="invalid_json")


def _too_deep(value: Any) -> bool:
    """Nested more than MAX_DEPTH objects or lists (checked level by level, without recursion)."""
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v) if isinstance(c, (dict, list))]
        if not level:
            return False
    return True


def text_of(content: Any) -> str | None:
    """The text of a message's content: a string, or a list of text parts. None if it has a part of another kind
    (an image, audio, a file: no model of the pool would see it, so the question is refused, not half-read)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        if all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            return "\n".join(p["text"] for p in content)
    return None


def question_of(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages",
                       code="missing_messages" if messages is None else "invalid_messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise APIError(400, f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]", code="invalid_messages")
        if message["role"] not in ROLES:
            raise APIError(400, f"messages[{i}].role is '{message['role'][:40]}'; it must be one of {', '.join(sorted(ROLES))}",
                           param=f"messages[{i}].role", code="invalid_messages")
    users = [m for m in messages if m["role"] == "user"]
    if not users:
        raise APIError(400, "'messages' has no 'user' message to answer", param="messages", code="invalid_messages")
    text = text_of(users[-1].get("content"))
    if text is None:
        raise APIError(400, "the last user message must be text (a string or text parts only: images, audio and files "
                            "are not read by routeweave's models)", param="messages", code="invalid_messages")
    if not text.strip():
        raise APIError(400, "the last user message is empty: put the question to answer in its 'content'",
                       param="messages", code="invalid_messages")
    return text.strip()


def unread_messages(body: dict[str, Any]) -> int:
    """How many messages a session does not read: all but the last user message (a system prompt, earlier turns).
    A session answers one standalone question; the reply says how much of the conversation it left out."""
    return len(body["messages"]) - 1


def ignored_params(body: dict[str, Any]) -> list[str]:
    """The OpenAI parameters in ``body`` that routeweave accepts without applying them. A field OpenAI's API does
    not have, or one of its parameters with a bad value, is a 400 naming it (as OpenAI's API does): a cap sent
    beside `routeweave` instead of inside it must not be dropped silently."""
    out = []
    for key, value in body.items():
        if key in APPLIED or value is None or (key == "n" and value == 1):  # one answer is what routeweave gives
            continue
        if key in OPTION_KEYS and key not in IGNORED:  # max_tokens is OpenAI's (one completion), not the session cap
            raise APIError(400, f"'{key}' is a routeweave option: send it inside the 'routeweave' object, "
                                f'{{"routeweave": {{"{key}": ...}}}} (the openai client: extra_body={{"routeweave": {{...}}}})',
                           param=key, code="unknown_parameter")
        if key not in IGNORED:
            raise APIError(400, f"unrecognized request argument '{key}'; routeweave applies {', '.join(sorted(APPLIED))} "
                                f"and accepts (without applying) OpenAI's {', '.join(sorted(IGNORED))}",
                           param=key, code="unknown_parameter")
        ok, want = IGNORED[key]
        if not ok(value):
            raise APIError(400, f"'{key}' must be {want}, got {json.dumps(value)[:80]}", param=key, code="invalid_value")
        out.append(key)
    return sorted(out)


def parse_options(body: dict[str, Any]) -> tuple[SessionCaps, bool]:
    """The request's `routeweave` object: session caps, and whether to include the steps in the reply."""
    options = body.get("routeweave") or {}
    if not isinstance(options, dict):
        raise APIError(400, '\'routeweave\' must be an object, e.g. {"budget_usd": 0.002, "include_steps": true}',
                       param="routeweave", code="invalid_option")
    unknown = sorted(set(options) - OPTION_KEYS)
    if unknown:
        raise APIError(400, f"unknown routeweave option(s): {', '.join(unknown)}; known: {', '.join(sorted(OPTION_KEYS))}",
                       param=f"routeweave.{unknown[0]}", code="unknown_option")
    caps = {k: v for k, v in options.items() if k != "include_steps"}
    if not isinstance(options.get("include_steps", False), bool):
        raise APIError(400, f"routeweave.include_steps must be true or false, got {json.dumps(options['include_steps'])[:40]}",
                       param="routeweave.include_steps", code="invalid_option")
    try:
        return SessionCaps.parse(caps, prefix="routeweave."), bool(options.get("include_steps"))
    except ValueError as exc:
        bad = next((k for k in SessionCaps.model_fields if k in caps and not _parses({k: caps[k]})), None)  # as parse's order
        raise APIError(400, str(exc), param=f"routeweave.{bad}" if bad else "routeweave", code="invalid_option") from None


def _parses(caps: dict[str, Any]) -> bool:
    try:
        SessionCaps.parse(caps)
        return True
    except ValueError:
        return False


# -- responses ------------------------------------------------------------------------------------------


def usage_of(result: dict[str, Any]) -> dict[str, int]:
    p, c = int(result["prompt_tokens"]), int(result["completion_tokens"])
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def extra_fields(result: dict[str, Any], spec, budget_usd: float, include_steps: bool, wall_s: float,
                 ignored: Sequence[str] = (), notes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The reply's `routeweave` object; `notes`: `ignored_messages` (messages besides the last user one: the
    session never read them) and `capped` (options asked above the server's caps -> the value applied)."""
    notes = notes or {}
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
        "ignored_params": list(ignored),  # OpenAI parameters the request sent that routeweave does not apply
        "ignored_messages": notes.get("ignored_messages", 0),
        "capped": notes.get("capped", {}),
    }
    if include_steps:
        extra["steps"] = result["steps"]
    return extra
