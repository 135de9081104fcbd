"""The one adapter that talks to models: every LLM call in routeweave goes through `complete()`.

This is the only module that imports litellm. A call never raises for a model's fault: it returns a
`CallRecord` whose `error` says what went wrong, so the graph can tell the router and go on.
Costs come from the pool's prices, not from LiteLLM's price map, so custom prices are never lost.
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .pool import Endpoint, Price

# LiteLLM otherwise fetches its model price map from the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import litellm  # noqa: E402  (after the environment above)

litellm.suppress_debug_info = True
litellm.drop_params = True  # a remote API that lacks e.g. `grammar` ignores it instead of failing

LOCAL_API_KEY = "sk-no-key-needed"  # the embedded server checks no key, but OpenAI clients want one


class CallRecord(BaseModel):
    """One metered model call."""

    model_config = ConfigDict(extra="forbid")

    who: str
    text: str = ""
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)
    cost_units: float = Field(0.0, ge=0, description="Router-R1 unit: completion tokens x output $/1M")
    latency_s: float = Field(0.0, ge=0)
    error: str | None = None
    confidence: float | None = Field(None, ge=0, le=1, description="exp(mean token logprob), when asked and given")


class Target(BaseModel):
    """An endpoint with its address resolved (embedded server started, API key read from its env var)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    who: str
    model: str
    api_base: str | None = None
    api_key: str | None = Field(None, repr=False, exclude=True)
    price: Price = Price()
    max_tokens: int = 256
    timeout: float = 60.0
    temperature: float = 0.0
    mock_response: str | None = None

    def reserve_usd(self, prompt_tokens: int, max_tokens: int | None = None) -> float:
        """The most this call can cost: its prompt plus max_tokens of output."""
        return self.price.cost_usd(prompt_tokens, max_tokens or self.max_tokens)


class MissingKeyError(RuntimeError):
    pass


def resolve(who: str, endpoint: Endpoint, server_api_base: str | None) -> Target:
    """Turn a pool entry into a callable target. Raises MissingKeyError if its key's env var is unset."""
    api_key = None
    if endpoint.api_key_env:
        api_key = os.environ.get(endpoint.api_key_env)
        if not api_key:
            raise MissingKeyError(
                f"{who} reads its API key from the env var {endpoint.api_key_env}, which is not set: "
                f"export {endpoint.api_key_env}=... or disable it in the pool file"
            )
    if server_api_base:
        api_key = api_key or LOCAL_API_KEY
    return Target(
        who=who,
        model=endpoint.model or "",
        api_base=server_api_base or endpoint.api_base,
        api_key=api_key,
        price=endpoint.price,
        max_tokens=endpoint.max_tokens,
        timeout=endpoint.timeout,
        temperature=endpoint.temperature,
        mock_response=endpoint.mock_response,
    )


def count_tokens(target: Target, messages: list[dict[str, str]]) -> int:
    """Prompt tokens as LiteLLM counts them (tiktoken fallback for unknown models), plus a few per message
    for the chat template: used to reserve budget. Counted per message and cached, since the router's
    conversation only grows."""
    return sum(_message_tokens(target.model, m.get("content") or "") + 4 for m in messages) + 3


@functools.lru_cache(maxsize=4096)
def _message_tokens(model: str, text: str) -> int:
    try:
        return int(litellm.token_counter(model=model, text=text))
    except Exception:  # unknown tokenizer: a generous estimate is safe for a reservation
        return len(text.encode()) // 2 + 1


def _text(message: Any) -> str:
    content = message.content or ""
    reasoning = getattr(message, "reasoning_content", None) or ""
    if reasoning and "<think>" not in content:
        # LiteLLM moves <think>...</think> into reasoning_content; the protocol needs it back in line.
        return f"<think>{reasoning}</think>{content}"
    return content


async def complete(
    target: Target,
    messages: list[dict[str, str]],
    *,
    grammar: str | None = None,
    stop: list[str] | None = None,
    max_tokens: int | None = None,
    logprobs: bool = False,
    **litellm_kwargs: Any,
) -> CallRecord:
    """One chat completion, metered. `grammar` is a GBNF grammar passed to llama.cpp in extra_body."""
    kwargs: dict[str, Any] = dict(
        model=target.model,
        messages=messages,
        api_base=target.api_base,
        api_key=target.api_key,
        max_tokens=max_tokens or target.max_tokens,
        timeout=target.timeout,
        temperature=target.temperature,
        num_retries=0,
        **litellm_kwargs,
    )
    if target.mock_response is not None:
        kwargs["mock_response"] = target.mock_response
    if stop:
        kwargs["stop"] = stop
    if logprobs:
        kwargs["logprobs"] = True
    if grammar:
        kwargs["extra_body"] = {"grammar": grammar}
    started = time.perf_counter()
    try:
        response = await litellm.acompletion(**kwargs)
    except Exception as exc:  # every provider error becomes data the router can read
        return CallRecord(who=target.who, latency_s=time.perf_counter() - started, error=_describe(exc))
    latency = time.perf_counter() - started
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    text = _text(response.choices[0].message) if response.choices else ""
    return CallRecord(
        who=target.who,
        text=text,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=target.price.cost_usd(prompt, completion),
        cost_units=target.price.cost_units(completion),
        latency_s=latency,
        error=None if text.strip() else "empty reply",
        confidence=_confidence(response.choices[0]) if logprobs and response.choices else None,
    )


def _confidence(choice: Any) -> float | None:
    """exp(mean log-probability) of the generated tokens: a cheap, provider-neutral confidence signal."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    values = [float(getattr(t, "logprob", None) if not isinstance(t, dict) else t.get("logprob")) for t in content]
    values = [v for v in values if v == v]  # drop NaN
    return math.exp(sum(values) / len(values)) if values else None


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
