"""Start training from a trained router adapter instead of a fresh LoRA: the shipped one, a GGUF adapter
(`routeweave train export`'s or `ship`'s output) or a PEFT folder (a stage's `adapter/`).

A GGUF adapter is read back into PEFT form, the inverse of export.py: llama.cpp's `blk.N.attn_q.weight.lora_a`
(rank x in) and `.lora_b` (out x rank) become `…layers.N.self_attn.q_proj.lora_A/B.weight`, and the rows of
q's and k's B matrices are put back from llama.cpp's rotary order. The rank and alpha come from the file. The
GGUF stores float16, so the weights start from the exported ones exactly (float16 -> float32 is lossless).
Before anything loads, the adapter is checked as a server checks it: a LoRA, for this base model and for
this version of the router's prompt, or a TrainingError naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

from .base import TrainingError, gguf_file
from .export import _NAMES

SHIPPED = "routeweave.agents:adapters/router-smollm2-135m.gguf"
_MODULES = {short: module for module, short in _NAMES.items()}  # llama.cpp's name -> the transformers module


def resolve(spec: str) -> Path:
    """'shipped', a GGUF adapter file, or a PEFT adapter folder."""
    path = gguf_file(SHIPPED) if spec == "shipped" else Path(spec).expanduser()
    if path.is_dir():
        if not (path / "adapter_config.json").is_file():
            raise TrainingError(f"--from-adapter {path}: a folder must be a PEFT adapter (no adapter_config.json in it)")
    elif not path.is_file():
        raise TrainingError(f"--from-adapter {path}: no such file or folder (give 'shipped', a GGUF adapter or a PEFT "
                            "adapter folder such as WORK/sft/adapter)")
    return path


def check(path: Path, base: str, prompt_version: str) -> None:
    """The adapter was trained for this base GGUF and this router prompt (as the server checks it)."""
    from routeweave.agents.adapters import AdapterError, check_adapter

    if path.is_dir():
        folder_metadata(path, base, prompt_version)
        return
    try:
        check_adapter(path, gguf_file(base), name="--from-adapter", prompt_version=prompt_version)
    except AdapterError as exc:
        raise TrainingError(str(exc)) from None


def folder_metadata(path: Path, base: str, prompt_version: str) -> dict[str, str]:
    """A PEFT folder's routeweave.json (written with every adapter/ and checkpoint-N/ that `routeweave train`
    saves), checked: trained for this base model and this router prompt. Missing: refused, since what it was
    trained for can't be told (stamping today's version on it would pass every later check)."""
    meta_file = path / "routeweave.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        version = meta["prompt_version"]
    except FileNotFoundError:
        raise TrainingError(f"{path}: no routeweave.json recording the base model and router prompt it was trained for "
                            "(`routeweave train sft`/`grpo` write one into adapter/ and every checkpoint-N/; a folder "
                            "made elsewhere or by an older routeweave has none): retrain it") from None
    except (ValueError, KeyError, TypeError):
        raise TrainingError(f"{meta_file}: no field 'prompt_version' in a JSON object: retrain the adapter") from None
    if version != prompt_version:
        raise TrainingError(f"{meta_file}: field 'prompt_version' is {version}, but the router prompt is now "
                            f"{prompt_version}: retrain it for today's prompt (train from a fresh LoRA)")
    from .sft import adapter_metadata

    expected = adapter_metadata(base, prompt_version, "")
    for key in ("base_sha256", "base_model"):
        if meta.get(key) != expected.get(key):
            raise TrainingError(f"{meta_file}: field '{key}' is {meta.get(key)!r}, but this base is {expected.get(key)!r} "
                                f"({base}): the adapter was trained for another base model")
    return meta


def _unpermute(w, n_head: int):
    """export._permute undone: llama.cpp's rotary row order back to transformers'."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def peft_state(path: Path, *, n_head: int, n_head_kv: int) -> tuple[dict, int, float]:
    """(PEFT state dict of float32 tensors, rank, alpha) of a GGUF LoRA adapter."""
    import gguf
    import numpy as np
    import torch

    reader = gguf.GGUFReader(str(path))
    alpha_field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    if alpha_field is None:
        raise TrainingError(f"{path}: field '{gguf.Keys.Adapter.LORA_ALPHA}' is missing: not a LoRA adapter")
    state, ranks = {}, set()
    for tensor in reader.tensors:
        name = tensor.name
        try:
            blk, layer, short, _, which = name.split(".")
            module = _MODULES[short]
        except (ValueError, KeyError):
            raise TrainingError(f"{path}: tensor '{name}' is not a LoRA matrix of a linear layer") from None
        # GGUF lists dimensions innermost first; numpy wants them outermost first
        array = np.asarray(tensor.data, dtype=np.float32).reshape([int(d) for d in reversed(tensor.shape)])
        if which == "lora_b" and short in ("attn_q", "attn_k"):
            array = _unpermute(array, n_head if short == "attn_q" else n_head_kv)
        ranks.add(array.shape[0] if which == "lora_a" else array.shape[1])
        state[f"base_model.model.model.layers.{layer}.{module}.lora_{which[-1].upper()}.weight"] = torch.from_numpy(array.copy())
    if len(ranks) != 1:
        raise TrainingError(f"{path}: its LoRA matrices have ranks {sorted(ranks)}; one rank expected")
    return state, ranks.pop(), float(alpha_field.contents())


def trainable_model(base_model, path: Path):
    """The base model wrapped in the adapter at `path` (see resolve), its LoRA weights trainable."""
    from peft import PeftModel, get_peft_model, set_peft_model_state_dict

    from .sft import SFTSettings, lora_config

    if path.is_dir():
        return PeftModel.from_pretrained(base_model, str(path), is_trainable=True)
    config = base_model.config
    state, rank, alpha = peft_state(path, n_head=config.num_attention_heads, n_head_kv=config.num_key_value_heads)
    model = get_peft_model(base_model, lora_config(SFTSettings(rank=rank, alpha=alpha)))
    result = set_peft_model_state_dict(model, state)
    missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    if missing or getattr(result, "unexpected_keys", []):
        raise TrainingError(f"{path}: its tensors do not fit this base model's LoRA layers "
                            f"(missing {missing[:3]}, unexpected {list(result.unexpected_keys)[:3]})")
    return model
