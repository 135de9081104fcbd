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
from pathlib import Path

from routeweave.agents.files import temp_beside

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
    fd, tmp = temp_beside(path)
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
    fd, tmp = temp_beside(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def save_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = temp_beside(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
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


def served_corpus(work: Path) -> Path | None:
    """The corpus the stages' pool file searches in place of its retriever's own: WORK/corpus-train.jsonl.gz when
    `train data --questions` brought paragraphs (the corpus the teacher searched for those questions: the pool's
    corpus, the shipped HotpotQA one, the questions' paragraphs and, without --questions-only, MuSiQue's); None (the
    pool's own corpus, as the shipped recipe serves) without them."""
    from .build_data import TRAIN_CORPUS

    path = Path(work) / DATA_RECORD
    if not path.is_file() or not json.loads(path.read_text(encoding="utf-8")).get("settings", {}).get("questions"):
        return None
    corpus = Path(work) / TRAIN_CORPUS
    if not corpus.is_file():
        raise TrainingError(f"{path} records --questions, but {corpus}, the corpus holding their paragraphs, is missing: "
                            f"run `routeweave train data --work {work}` with the same options again")
    return corpus.resolve()


def _key(line: str) -> str | None:
    head = line.strip()
    return head.split("=", 1)[0].strip() if "=" in head and not head.startswith("#") else None


def _with_corpus(text: str, expert: str, corpus: Path) -> str:
    """A pool file's text with the [[experts]] table named EXPERT searching CORPUS (its corpus line replaced)."""
    import tomllib

    lines, block, out = text.splitlines(), None, []
    for n, line in enumerate(lines):
        head = line.strip()
        if head.startswith("["):
            block = n if head == "[[experts]]" else None
        if block is not None and _key(line) == "corpus":
            rest = lines[block + 1:]
            end = next((i for i, x in enumerate(rest) if x.strip().startswith("[")), len(rest))
            names = [tomllib.loads(x)["name"] for x in rest[:end] if _key(x) == "name"]
            if names == [expert]:
                out.append(f"corpus = {json.dumps(str(corpus))}   # written by routeweave train: see the top of this file")
                continue
        out.append(line)
    return "\n".join(out) + "\n"


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
        key = _key(line)
        if (section == f"servers.{server}" and key == "adapters") or (section == "router" and key == "adapter"):
            continue
        out.append(line)
        if head == f"[servers.{server}]":
            out.append(f"adapters = {{ router = {json.dumps(str(adapter.resolve()))} }}   # written by routeweave train")
        elif head == "[router]":
            out.append('adapter = "router"   # written by routeweave train')
    return "\n".join(out) + "\n"


def _body(text: str) -> str:
    """The pool file without its opening comments: they describe that file's own router, not this adapter."""
    lines = text.splitlines()
    first = next((i for i, x in enumerate(lines) if x.strip() and not x.lstrip().startswith("#")), len(lines))
    return "\n".join(lines[first:]) + "\n"


def write_stage_pool(adapter: Path, work: Path) -> Path:
    """The pool file of a stage's adapter in WORK: the pool and corpus `train data` recorded there."""
    return write_pool_for(adapter, served_pool(work), served_corpus(work))


def write_pool_for(adapter: Path, pool_spec: str | None = None, corpus: Path | None = None) -> Path:
    """Write ADAPTER.toml beside a GGUF adapter: the pool the router was trained for (``pool_spec``, from
    `train data --pool`; default the embedded pool, written from `embedded-prompted`, the embedded pool without
    the shipped adapter) with its router using that adapter, so a stage can be evaluated before it is shipped
    (`routeweave eval qa --pool WORK/sft/router-lora.toml`); with ``corpus``, its retrieval expert (the one the
    teacher searched with) searches that file. A pool whose router is not on an embedded llama.cpp server cannot
    apply a GGUF adapter: the embedded pool is written then, and that is said on stderr and in the file."""
    import sys

    from routeweave.agents.errors import ConfigError
    from routeweave.agents.pool import load_pool, pool_path

    from .expert_lists import pool_view

    spec, note = pool_spec or "embedded-prompted", ""
    server = load_pool(spec).router.server
    if server is None:
        note = (f"the router of pool {spec} is not on an embedded llama.cpp server, so it cannot apply this GGUF adapter: "
                "this is the embedded pool with it (serve the PEFT adapter with vLLM --enable-lora for that pool)")
        print(f"note: {note}", file=sys.stderr)
        spec, server = "embedded-prompted", load_pool("embedded-prompted").router.server
    source = pool_path(spec)
    retrieval = pool_view(load_pool(spec)).retrieval
    what = "the embedded pool" if spec == "embedded-prompted" else f"the pool {source.stem!r}"
    head = [f"# {what} with its router on the trained adapter {adapter.resolve()}",
            f"# (written by routeweave train from {source}, whose opening comments are left out: they describe its own router)"]
    text = _with_router_adapter(_body(source.read_text(encoding="utf-8")), server, adapter)
    if corpus is not None:
        head.append(f"# its retriever {retrieval!r} searches {corpus}: the corpus the teacher searched for your --questions "
                    "(the pool's own corpus, the shipped HotpotQA one, your questions' paragraphs and, without --questions-only, "
                    "MuSiQue's)")
        text = _with_corpus(text, retrieval, corpus)
    pool = adapter.resolve().with_suffix(".toml")  # absolute: a bare ".F.toml.tmp" would be read as a shipped pool's name
    tmp = pool.with_name(f".{pool.name}.tmp")
    tmp.write_text("\n".join(head) + "\n" + (f"# note: {note}\n" if note else "") + "\n" + text, encoding="utf-8")
    try:
        written = load_pool(tmp)
        if corpus is not None and written.expert(retrieval).corpus != str(corpus):
            raise ConfigError(f"its expert {retrieval!r} has no `corpus = ...` line of its own in an [[experts]] table")
    except ConfigError as exc:
        tmp.unlink(missing_ok=True)
        fix = f" and to the [[experts]] table of {retrieval!r} `corpus = \"{corpus}\"`" if corpus is not None else ""
        raise TrainingError(f"could not point pool {source} at {adapter}: {exc}. Add to its [servers.{server}] table "
                            f"`adapters = {{ router = \"{adapter.resolve()}\" }}`, to its [router] table "
                            f"`adapter = \"router\"`{fix}") from None
    os.replace(tmp, pool)
    return pool
