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
failure (the router is told and may choose another), never the session's. A sync function runs in a thread of
its own (at most `concurrency` at once, per expert): a call that hangs past its timeout keeps only its own
thread and slot, never the threads that searches and other experts share, nor the process's exit."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import threading
import time
from typing import Any, Callable, Literal

from pydantic import Field

from ..errors import ConfigError
from ..records import EMPTY_REPLY, CallRecord, Cost
from .base import READER_HELP, TYPICAL_PROMPT_TOKENS, ExpertContext, ExpertKind, ExpertSettings


class PythonSettings(ExpertSettings):
    kind: Literal["python"]
    function: str = Field(..., pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="'package.module:function'")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments passed to the function")
    price_per_call_usd: float = Field(0.0, ge=0, description="the declared price of one call")
    returns: Literal["answer", "evidence"] = "answer"
    reader: str = Field("router", description=READER_HELP + " (for returns = 'evidence')")
    timeout: float = Field(30.0, gt=0)
    concurrency: int = Field(8, ge=1, le=256, description="calls of a sync function running at once; more wait "
                             "(within their timeout) for one to end")

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
        self._slots: asyncio.Semaphore | None = None  # made on the first call, on the engine's loop

    def reservation(self, query: str) -> Cost:
        return Cost(usd=self.settings.price_per_call_usd)

    async def ask(self, query: str, *, question: str = "") -> CallRecord:
        started = time.perf_counter()
        options = self.settings.options
        try:
            call = self.fn(query, **options) if self.is_async else self._in_thread(query, options)
            reply = await asyncio.wait_for(call, self.settings.timeout)
        except asyncio.TimeoutError:
            error = f"timed out after {self.settings.timeout:g}s"
        except Exception as exc:  # the tool's failure, reported to the router
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        else:
            if isinstance(reply, str) and reply.strip():
                return CallRecord(who=self.name, text=reply, cost_usd=self.settings.price_per_call_usd,
                                  latency_s=time.perf_counter() - started)
            error = EMPTY_REPLY if isinstance(reply, str) or reply is None else f"returned {type(reply).__name__}, not str"
        # a call that ran was paid for, whatever it returned
        return CallRecord(who=self.name, cost_usd=self.settings.price_per_call_usd,
                          latency_s=time.perf_counter() - started, error=error)

    async def _in_thread(self, query: str, options: dict[str, Any]) -> Any:
        """The sync function in a daemon thread of its own, holding one of this expert's slots until it returns
        (a timed-out call keeps its slot while it hangs: this expert slows down, nothing else does)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.concurrency)
        slots, loop = self._slots, asyncio.get_running_loop()
        await slots.acquire()
        future = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            slots.release()
            if not future.done():  # not cancelled by the timeout meanwhile
                future.set_exception(error) if error is not None else future.set_result(result)

        def run() -> None:
            result, error = None, None
            try:
                result = self.fn(query, **options)
            except Exception as exc:
                error = exc
            except BaseException as exc:  # SystemExit and the like, from a tool: its failure, not the server's
                error = RuntimeError(f"{type(exc).__name__} raised in the tool")
            with contextlib.suppress(RuntimeError):  # the loop closed while this call hung
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=run, name=f"routeweave-tool-{self.name}", daemon=True).start()
        return await future


KIND = ExpertKind("python", PythonSettings, PythonExpert, "a Python function (tools, agents) called with the query",
                  example={"name": "Echo", "kind": "python", "function": "builtins:str", "price_per_call_usd": 1e-6, "description": "repeats the query"},
                  check=lambda s: load_function(s.function, s.name))
