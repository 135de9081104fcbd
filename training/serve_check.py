"""A throw-away llama.cpp server (xllamacpp, in-process) with one LoRA adapter loaded but not applied,
for checks that compare it with transformers: requests turn the adapter on with `lora` scales."""

from __future__ import annotations

import contextlib
from pathlib import Path


@contextlib.contextmanager
def adapter_server(gguf: str, adapter: Path, *, threads: int = 2):
    from routeweave.agents.local_server import EmbeddedServer
    from routeweave.agents.pool import LocalServer

    spec = LocalServer(gguf=gguf, threads=threads, n_parallel=1, n_ctx=4096, adapters={"router": str(adapter)})
    server = EmbeddedServer("check", spec)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
