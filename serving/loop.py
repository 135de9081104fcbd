"""The one asyncio loop the graphs' async nodes, LiteLLM's async client and the checkpointers live on, so
sync callers (`invoke`, `stream`) and async ones (`ainvoke`, `astream`) share it without "event loop
closed" surprises.

By default the loop runs in a daemon thread of its own (the CLI, the Python API, evaluation runs). A
server hands in the loop it serves HTTP on (`LoopThread(loop)`, see ui/serve_cmd.py): requests then run
their sessions on that loop directly, with no hop between threads per request. uvloop is used when it is
installed."""

from __future__ import annotations

import asyncio
import threading


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (a faster drop-in), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; other platforms may lack it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """`loop`: a loop the caller runs (and closes) itself; None: start one in a thread of its own."""
        self.loop: asyncio.AbstractEventLoop | None = loop
        self._adopted = loop is not None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._adopted:
            return
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="routeweave-loop", daemon=True)
        self._thread.start()

    def can_wait(self) -> bool:
        """True when the loop runs in its own thread and this is another: a caller here may block until it works."""
        return self._thread is not None and threading.current_thread() is not self._thread

    def check(self) -> None:
        """Raise, saying what to do, unless the loop can run coroutines."""
        if self.loop is None:
            raise RuntimeError("the engine is not running (closed, or never started): open the graph again "
                               "(open_graph(...)), or call Engine.start() first")

    def _require(self, coro) -> None:
        if self.loop is None:
            coro.close()  # never scheduled: no "coroutine was never awaited" warning on top of the error
            self.check()

    def run(self, coro):
        """Run `coro` on the loop from another thread (or, for an adopted loop not yet running, right here)."""
        self._require(coro)
        if self._adopted and not self.loop.is_running():
            return self.loop.run_until_complete(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro):
        self._require(coro)
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop is None:
            return
        if self._adopted:  # its owner stops and closes it
            self.loop = None
            return
        try:  # cancel what is still scheduled (e.g. LiteLLM's logging worker) so nothing outlives the loop
            self.run(_cancel_pending())
        except RuntimeError:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread:
            self._thread.join(timeout=5)
        self.loop.close()
        self.loop = None


async def _cancel_pending() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
