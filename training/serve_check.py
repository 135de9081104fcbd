"""A throw-away llama.cpp server (xllamacpp, in-process) with one LoRA adapter loaded but not applied,
for checks that compare it with transformers: requests turn the adapter on with `lora` scales."""

from __future__ import annotations

import contextlib
from pathlib import Path


@contextlib.contextmanager
def adapter_server(gguf: str, adapter: Path, *, threads: int = 2):
    import xllamacpp

    from routeweave.agents.local_server import EmbeddedServer
    from routeweave.agents.pool import LocalServer

    server = EmbeddedServer("check", LocalServer(gguf=gguf, threads=threads, n_parallel=1, n_ctx=4096))
    original = xllamacpp.CommonParams

    def with_adapter():
        params = original()
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(adapter), 1.0)]
        params.lora_init_without_apply = True
        return params

    xllamacpp.CommonParams = with_adapter
    try:
        url = server.start()
    finally:
        xllamacpp.CommonParams = original
    try:
        yield url
    finally:
        server.stop()
