"""Export a PEFT LoRA adapter of the router as a GGUF LoRA adapter for llama.cpp.

The layout is llama.cpp's own (convert_lora_to_gguf.py): `general.type = adapter`, `adapter.type =
lora`, `adapter.lora.alpha`, and per adapted weight `blk.N.attn_q.weight.lora_a` (rank x in) and
`.lora_b` (out x rank). llama.cpp stores q/k projections with their rows permuted for its rotary
layout (transformers undoes that when it dequantises the GGUF), so the B matrices of q and k get the
same permutation. routeweave's own keys record what the adapter was trained for, and are checked
before it is served: `routeweave.base_sha256` (the base GGUF) and `routeweave.prompt_version`.

Files are written to a temp name beside the target and renamed: a half-written adapter never exists
under its real name."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .base import TrainingError

_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
META_PREFIX = "routeweave."


def _permute(w, n_head: int):
    """llama.cpp's q/k row order (convert_hf_to_gguf's LlamaModel.permute) for the rows of `w`."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(state: dict, *, n_head: int, n_head_kv: int) -> dict[str, "object"]:
    """PEFT state dict (…layers.N.self_attn.q_proj.lora_A.weight …) -> {gguf name: float16 array}."""
    import numpy as np

    pairs: dict[str, dict[str, object]] = {}
    for key, tensor in state.items():
        if ".lora_A." not in key and ".lora_B." not in key:
            raise TrainingError(f"adapter tensor '{key}' is not a LoRA A/B matrix; only LoRA on linear layers exports")
        which = "a" if ".lora_A." in key else "b"
        stem = key.split(".lora_")[0]
        layer = stem.split("layers.")[1].split(".")[0] if "layers." in stem else None
        module = ".".join(stem.split(".")[-2:])
        if layer is None or module not in _NAMES:
            raise TrainingError(f"adapter tensor '{key}': no llama.cpp name for module '{module}'")
        pairs.setdefault(f"blk.{layer}.{_NAMES[module]}.weight", {})[which] = tensor.detach().float().cpu().numpy()
    out = {}
    for name, ab in sorted(pairs.items()):
        if set(ab) != {"a", "b"}:
            raise TrainingError(f"adapter weight {name} lacks its lora_{'b' if 'a' in ab else 'a'} matrix")
        b = ab["b"]
        if ".attn_q." in name:
            b = _permute(b, n_head)
        elif ".attn_k." in name:
            b = _permute(b, n_head_kv)
        out[name + ".lora_a"] = np.ascontiguousarray(ab["a"], dtype=np.float16)
        out[name + ".lora_b"] = np.ascontiguousarray(b, dtype=np.float16)
    return out


def write_gguf_adapter(path: Path, tensors: dict, *, alpha: float, metadata: dict[str, str]) -> Path:
    """Write the adapter atomically (temp file in the same folder, then rename)."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, "llama")
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for key, value in sorted(metadata.items()):
            writer.add_string(META_PREFIX + key, str(value))
        for name, array in tensors.items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_peft_model(model, path: Path, *, metadata: dict[str, str]) -> Path:
    """A PEFT-wrapped LlamaForCausalLM (one 'default' LoRA adapter) -> GGUF adapter file."""
    from peft import get_peft_model_state_dict

    config = model.peft_config["default"]
    base_config = model.get_base_model().config
    state = get_peft_model_state_dict(model)
    tensors = gguf_tensors(state, n_head=base_config.num_attention_heads, n_head_kv=base_config.num_key_value_heads)
    meta = {"lora_rank": str(config.r), **metadata}
    return write_gguf_adapter(path, tensors, alpha=float(config.lora_alpha), metadata=meta)


def read_metadata(path: Path) -> dict[str, str]:
    """routeweave.* keys of a GGUF adapter; TrainingError (naming the file) if it is not one."""
    import gguf

    path = Path(path)
    try:
        reader = gguf.GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path}: not a readable GGUF file ({exc})") from None
    kind = reader.fields.get("general.type")
    if kind is None or kind.contents() != "adapter":
        raise TrainingError(f"{path}: field 'general.type' is not 'adapter': not a LoRA adapter")
    return {k[len(META_PREFIX):]: v.contents() for k, v in reader.fields.items() if k.startswith(META_PREFIX)}


def save_json_atomic(path: Path, data) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


DATA_RECORD = "data.json"  # WORK/data.json: what `train data` built, and for which pool


def served_pool(work: Path) -> str | None:
    """The pool `train data --pool` built WORK's trajectories for (a shipped name or an absolute file path);
    None: the embedded pool."""
    path = Path(work) / DATA_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))["settings"].get("pool")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TrainingError(f"{path} is not the record `routeweave train data` writes (no 'settings'): "
                            "run train data again, or delete the file to use the embedded pool") from None


def _with_router_adapter(text: str, server: str, adapter: Path) -> str:
    """A pool file's text with `adapters = { router = ADAPTER }` on the router's server and `adapter = "router"`
    on the router: earlier such lines of those two tables are replaced, everything else is kept as written."""
    out, section = [], None
    for line in text.splitlines():
        head = line.strip()
        if head.startswith("[") and not head.startswith("[["):
            section = head.strip("[]").strip()
        elif head.startswith("[["):
            section = None
        key = head.split("=", 1)[0].strip() if "=" in head and not head.startswith("#") else None
        if (section == f"servers.{server}" and key == "adapters") or (section == "router" and key == "adapter"):
            continue
        out.append(line)
        if head == f"[servers.{server}]":
            out.append(f"adapters = {{ router = {json.dumps(str(adapter.resolve()))} }}   # written by routeweave train")
        elif head == "[router]":
            out.append('adapter = "router"   # written by routeweave train')
    return "\n".join(out) + "\n"


def write_pool_for(adapter: Path, pool_spec: str | None = None) -> Path:
    """Write ADAPTER.toml beside a GGUF adapter: the pool the router was trained for (``pool_spec``, from
    `train data --pool`; default the embedded pool) with its router using that adapter, so a stage can be
    evaluated before it is shipped (`routeweave eval qa --pool WORK/sft/router-lora.toml`). A pool whose router
    is not on an embedded llama.cpp server cannot apply a GGUF adapter: the embedded pool is written then, and
    the fallback is said on stderr and in the file."""
    import sys

    from routeweave.agents.errors import ConfigError
    from routeweave.agents.pool import load_pool, pool_path

    spec, note = pool_spec or "embedded-prompted", ""
    server = load_pool(spec).router.server
    if server is None:
        note = (f"the router of pool {spec} is not on an embedded llama.cpp server, so it cannot apply this GGUF adapter: "
                "this is the embedded pool with it (serve the PEFT adapter with vLLM --enable-lora for that pool)")
        print(f"note: {note}", file=sys.stderr)
        spec, server = "embedded-prompted", load_pool("embedded-prompted").router.server
    source = pool_path(spec)
    pool = adapter.with_suffix(".toml")
    tmp = pool.with_name(f".{pool.name}.tmp")
    head = f"# {adapter.name}: the pool {source.stem!r} ({source}) with its router on this adapter (written by routeweave train)\n"
    tmp.write_text(head + (f"# note: {note}\n" if note else "") + _with_router_adapter(source.read_text(encoding="utf-8"), server, adapter),
                   encoding="utf-8")
    try:
        load_pool(tmp)
    except ConfigError as exc:
        tmp.unlink(missing_ok=True)
        raise TrainingError(f"could not point pool {source} at {adapter}: {exc}. Add to its [servers.{server}] table "
                            f"`adapters = {{ router = \"{adapter.resolve()}\" }}` and to its [router] table "
                            "`adapter = \"router\"`") from None
    os.replace(tmp, pool)
    return pool
