"""The `python` kind: any Python function as an expert, so tools and agents are routed to like models.

    [[experts]]
    name = "Calc"
    kind = "python"
    function = "my_tools.calc:evaluate"   # module:function, sync or async, called as f(query, **options)
    options = { precision = 6 }           # keyword arguments for the function (optional)
    price_per_call_usd = 0.0001           # what one call costs: reserved before, charged after
    returns = "answer"                    # or "evidence": a reader (the router model by default) answers from it
    timeout = 10
    description = "Evaluates arithmetic exactly."

The function returns the reply as a string. An exception, a timeout or a non-string reply is the expert's
failure (the router is told and may choose another), never the session's."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from typing import Any, Callable, Literal

from pydantic import Field

from ..errors import ConfigError
from ..records import CallRecord, Cost
from .base import READER_HELP, TYPICAL_PROMPT_TOKENS, ExpertContext, ExpertKind, ExpertSettings


class PythonSettings(ExpertSettings):
    kind: Literal["python"]
    function: str = Field(..., pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="'package.module:function'")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments passed to the function")
    price_per_call_usd: float = Field(0.0, ge=0, description="the declared price of one call")
    returns: Literal["answer", "evidence"] = "answer"
    reader: str = Field("router", description=READER_HELP + " (for returns = 'evidence')")
    timeout: float = Field(30.0, gt=0)

    @property
    def answers(self) -> bool:
        return self.returns == "answer"

    def read_by(self) -> str | None:
        return None if self.answers else self.reader

    def typical_cost_usd(self, prompt_tokens: int = TYPICAL_PROMPT_TOKENS) -> float:
        return self.price_per_call_usd

    def price_label(self) -> str:
        return f"${self.price_per_call_usd:g} per call" if self.price_per_call_usd else "free"


def load_function(spec: str, who: str) -> Callable[..., Any]:
    """Import 'module:function'; a ConfigError names the expert and says what is missing."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"expert '{who}': cannot import module '{module_name}' for function = '{spec}' ({exc}); "
                          f"install it or put it on PYTHONPATH") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"expert '{who}': module '{module_name}' has no function '{attr}' (function = '{spec}')")
    return fn


class PythonExpert:
    def __init__(self, settings: PythonSettings, context: ExpertContext):
        self.name, self.settings = settings.name, settings
        self.fn = load_function(settings.function, settings.name)
        self.is_async = inspect.iscoroutinefunction(self.fn)

    def reservation(self, query: str) -> Cost:
        return Cost(usd=self.settings.price_per_call_usd)

    async def ask(self, query: str, *, question: str = "") -> CallRecord:
        started = time.perf_counter()
        options = self.settings.options
        try:
            call = self.fn(query, **options) if self.is_async else asyncio.to_thread(self.fn, query, **options)
            reply = await asyncio.wait_for(call, self.settings.timeout)
        except asyncio.TimeoutError:
            error = f"timed out after {self.settings.timeout:g}s"
        except Exception as exc:  # the tool's failure, reported to the router
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        else:
            if isinstance(reply, str) and reply.strip():
                return CallRecord(who=self.name, text=reply, cost_usd=self.settings.price_per_call_usd,
                                  latency_s=time.perf_counter() - started)
            error = "empty reply" if isinstance(reply, str) or reply is None else f"returned {type(reply).__name__}, not str"
        # a call that ran was paid for, whatever it returned
        return CallRecord(who=self.name, cost_usd=self.settings.price_per_call_usd,
                          latency_s=time.perf_counter() - started, error=error)


KIND = ExpertKind("python", PythonSettings, PythonExpert, "a Python function (tools, agents) called with the query",
                  example={"name": "Echo", "kind": "python", "function": "builtins:str", "price_per_call_usd": 1e-6, "description": "repeats the query"})
