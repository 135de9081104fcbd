"""The one adapter that talks to models: every LLM call in routeweave goes through `complete()`.

This is the only module that imports litellm. A call never raises for a model's fault: it returns a
`CallRecord` whose `error` says what went wrong, so the graph can tell the router and go on.
Costs come from the pool's prices, not from LiteLLM's price map, so custom prices are never lost.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import ConfigError
from .records import EMPTY_REPLY, CallRecord, Cost
from .settings import Endpoint, Price, Reliability

# LiteLLM otherwise fetches its model price map from the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")


@functools.cache
def _litellm():
    """LiteLLM, imported on first use (~2 s): commands that start no model (`--help`, `sessions`, `gc`,
    `eval routing`) never pay for it."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a remote API that lacks e.g. `grammar` ignores it instead of failing
    return litellm

LOCAL_API_KEY = "sk-no-key-needed"  # the embedded server checks no key, but OpenAI clients want one


class Target(BaseModel):
    """A pool entry ready to call: its deployments live in a LiteLLM Router (retries, cooldowns,
    fallbacks, replicas); the Target names its model group and carries the prices of the groups a
    fallback may land on, so every call is charged at the price of who really answered."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    who: str
    model: str
    api_base: str | None = Field(None, description="the first address, for information (no key here)")
    price: Price = Price()
    prices: dict[str, Price] = Field(default_factory=dict, description="who -> price, for fallbacks")
    max_tokens: int = 256
    timeout: float = 60.0
    temperature: float = 0.0
    mock_response: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict, description="sent with every request, e.g. llama.cpp's per-request 'lora' scales")
    router: Any = Field(None, exclude=True, repr=False)
    calibration: Any = Field(default_factory=lambda: PromptCalibration(), exclude=True, repr=False)

    def reserve_usd(self, prompt_tokens: int, max_tokens: int | None = None) -> float:
        """The most this call can cost: its prompt plus max_tokens of output, at the dearest price it may
        be answered at (its own, or a fallback's)."""
        tokens = max_tokens or self.max_tokens
        return max(p.cost_usd(prompt_tokens, tokens) for p in [self.price, *self.prices.values()])


class PromptCalibration:
    """How far the provider's prompt-token counts run above our own count, learned from the usage each
    reply reports, so that reservations cover the prompt as the provider counts it (a tokenizer we do not
    have, a chat template, tool or image tokens). The ratio only grows, up to MAX_RATIO."""

    MAX_RATIO = 8.0

    def __init__(self) -> None:
        self.ratio = 1.0

    def observe(self, estimated: int, reported: int) -> None:
        if estimated > 0 and reported > 0:
            self.ratio = min(self.MAX_RATIO, max(self.ratio, reported / estimated))


class MissingKeyError(ConfigError):
    """An API key the pool names is not in the environment."""


def api_key_for(who: str, endpoint: Endpoint, *, local: bool) -> str | None:
    """The key from the env var the pool names. Raises MissingKeyError, saying how to fix it."""
    if endpoint.api_key_env:
        key = os.environ.get(endpoint.api_key_env)
        if not key:
            raise MissingKeyError(
                f"{who} reads its API key from the env var {endpoint.api_key_env}, which is not set: "
                f"export {endpoint.api_key_env}=... or disable it in the pool file"
            )
        return key
    return LOCAL_API_KEY if local else None


def deployments(who: str, endpoint: Endpoint, addresses: list[tuple[str | None, bool]]) -> list[dict[str, Any]]:
    """LiteLLM Router model_list entries of one endpoint: one per address (api_base, is_local)."""
    out = []
    for i, (api_base, local) in enumerate(addresses or [(None, False)]):
        # a self-hosted server (embedded or any api_base) without a key env gets a placeholder key: the
        # OpenAI client insists on one; with neither, LiteLLM reads the provider's usual env var
        key = api_key_for(who, endpoint, local=local or bool(api_base))
        params = {"model": endpoint.model, "timeout": endpoint.timeout, "api_key": key}
        if api_base:
            params["api_base"] = api_base
        out.append({"model_name": who, "litellm_params": params, "model_info": {"id": f"{who}#{i}"}})
    return out


def build_router(model_list: list[dict[str, Any]], fallbacks: dict[str, list[str]], reliability: Reliability):
    """One LiteLLM Router for the whole pool: retries with backoff, cooldown of failing deployments,
    fallbacks between experts, load balancing over replicas."""
    return _litellm().Router(
        model_list=model_list,
        num_retries=reliability.num_retries,
        retry_after=reliability.retry_after_s,
        allowed_fails=reliability.allowed_fails,
        cooldown_time=reliability.cooldown_s,
        fallbacks=[{who: names} for who, names in fallbacks.items() if names],
    )


def make_target(who: str, endpoint: Endpoint, router: Any, prices: dict[str, Price], api_base: str | None,
                extra_body: dict[str, Any] | None = None) -> Target:
    return Target(
        who=who,
        model=endpoint.model or "",
        api_base=api_base,
        price=endpoint.price,
        prices=prices,
        max_tokens=endpoint.max_tokens,
        timeout=endpoint.timeout,
        temperature=endpoint.temperature,
        mock_response=endpoint.mock_response,
        extra_body=extra_body or {},
        router=router,
    )


def count_tokens(target: Target, messages: list[dict[str, str]]) -> int:
    """Prompt tokens as LiteLLM counts them (tiktoken fallback for unknown models), plus a few per message
    for the chat template: used to reserve budget. Counted per message and cached, since the router's
    conversation only grows."""
    return sum(_message_tokens(target.model, m.get("content") or "") + 4 for m in messages) + 3


PROMPT_HEADROOM = 1.25  # chat templates add tokens that LiteLLM's count cannot see
PROMPT_EXTRA_TOKENS = 16


def reservation(target: Target, messages: list[dict[str, str]], max_tokens: int | None = None) -> Cost:
    """The one reservation rule: the most a call may cost before it is made. The prompt as the provider
    will count it (our count, scaled by what its replies reported so far, with headroom), plus every output
    token allowed, at the dearest price it may be answered at."""
    estimate = count_tokens(target, messages) * target.calibration.ratio
    prompt = int(estimate * PROMPT_HEADROOM) + PROMPT_EXTRA_TOKENS
    out = max_tokens or target.max_tokens
    return Cost(usd=target.reserve_usd(prompt, out), tokens=prompt + out)


@functools.lru_cache(maxsize=4096)
def _message_tokens(model: str, text: str) -> int:
    try:
        # litellm.encode: the tokenizer token_counter picks, without token_counter's per-call set-up (~80 us
        # a message against ~20 us, on every router turn's new messages).
        return len(_litellm().encode(model=model, text=text))
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
    confidence_after: str | None = None,
    **litellm_kwargs: Any,
) -> CallRecord:
    """One chat completion, metered. `grammar` is a GBNF grammar passed to llama.cpp in extra_body. With
    `logprobs`, the record's confidence is over the tokens after `confidence_after` when the reply has it
    (e.g. "<answer>": the answer's own tokens, not a fixed preamble), else over all of them."""
    kwargs: dict[str, Any] = dict(
        model=target.who,  # the Router's model group
        messages=messages,
        max_tokens=max_tokens or target.max_tokens,
        temperature=target.temperature,
        **litellm_kwargs,
    )
    if target.mock_response is not None:
        kwargs["mock_response"] = target.mock_response
    if stop:
        kwargs["stop"] = stop
    if logprobs:
        kwargs["logprobs"] = True
    body = dict(target.extra_body)
    if grammar:
        body["grammar"] = grammar
    if body:
        kwargs["extra_body"] = body
    started = time.perf_counter()
    try:
        response = await target.router.acompletion(**kwargs)
    except Exception as exc:  # every provider error, after retries and fallbacks, becomes data for the router
        return CallRecord(who=target.who, latency_s=time.perf_counter() - started, error=_describe(exc))
    latency = time.perf_counter() - started
    deployment = str((getattr(response, "_hidden_params", None) or {}).get("model_id") or "")
    who = deployment.split("#")[0] if deployment.split("#")[0] in target.prices else target.who
    price = target.prices.get(who, target.price)
    usage = getattr(response, "usage", None)
    prompt, completion = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
    text = _text(response.choices[0].message) if response.choices else ""
    # Every prompt has tokens, and so does every reply with text: a count that is absent, zero where it can't
    # be, negative or not a number is usage not reported, charged at the whole reservation (graphs/metering.py).
    missing = not prompt or completion is None or (completion == 0 and bool(text.strip()))
    if missing:
        prompt, completion = 0, 0
    else:
        target.calibration.observe(count_tokens(target, messages), prompt)
    return CallRecord(
        who=who,
        text=text,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=price.cost_usd(prompt, completion),
        cost_units=price.cost_units(completion),
        latency_s=latency,
        error=None if text.strip() else EMPTY_REPLY,
        confidence=_confidence(response.choices[0], confidence_after) if logprobs and response.choices else None,
        deployment=deployment or None,
        usage_missing=missing,
        truncated=bool(response.choices) and getattr(response.choices[0], "finish_reason", None) == "length",
    )


async def close_clients() -> int:
    """Close the HTTP clients LiteLLM cached for the running event loop, before that loop closes (their sockets
    would otherwise outlive it: ResourceWarning at exit). LiteLLM keys a loop's clients `<key>-<loop token>`,
    so other loops' clients (another Engine in this process) are left alone. Returns how many were closed."""
    if "litellm" not in sys.modules:  # no call was made: nothing to close, and no 2 s import at shutdown
        return 0
    from litellm.caching.evicted_client_closer import running_loop_token

    token, cache = running_loop_token(), getattr(_litellm().in_memory_llm_clients_cache, "cache_dict", {})
    closed = 0
    for key in [k for k in list(cache) if token is not None and str(k).endswith(f"-{token}")]:
        client = cache.pop(key, None)
        close = getattr(client, "aclose", None) or getattr(client, "close", None)
        try:
            if close is not None and inspect.isawaitable(pending := close()):
                await pending
            closed += close is not None
        except Exception:  # noqa: BLE001 - a client that fails to close is no reason to fail the shutdown
            pass
    return closed


def _count(usage: Any, field: str) -> int | None:
    """A token count as the provider reported it, or None when it isn't a whole number >= 0."""
    value = usage.get(field) if isinstance(usage, dict) else getattr(usage, field, None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return int(value) if float(value).is_integer() else None


def _confidence(choice: Any, after: str | None = None) -> float | None:
    """exp(mean log-probability) of the generated tokens: a cheap, provider-neutral confidence signal. With
    `after`, of the tokens that follow the first token completing that text (all of them if it never appears)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    field = (lambda t, k: t.get(k)) if content and isinstance(content[0], dict) else (lambda t, k: getattr(t, k, None))
    if after:
        text = ""
        for i, t in enumerate(content):
            text += str(field(t, "token") or "")
            if after in text:
                content = content[i + 1:]
                break
    values = [float(field(t, "logprob")) for t in content if field(t, "logprob") is not None]
    values = [min(v, 0.0) for v in values if v == v]  # drop NaN; a log-probability above 0 is a provider's rounding
    return math.exp(sum(values) / len(values)) if values else None


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
