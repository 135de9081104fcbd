"""An asyncio loop in a daemon thread: the graphs' async nodes, LiteLLM's async client and the async
checkpointers all live on it, so sync callers (`invoke`, `stream`) and async ones (`ainvoke`,
`astream`) share one loop without "event loop closed" surprises."""

from __future__ import annotations

import asyncio
import threading


class LoopThread:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="routeweave-loop", daemon=True)
        self._thread.start()

    def run(self, coro):
        assert self.loop is not None, "the engine is not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro):
        assert self.loop is not None, "the engine is not started"
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop is not None:
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
