"""An on-disk cache for feature sources in offline runs (``FeatureCache``: vectors by text hash, outside the
repository). The source itself, llama.cpp's embeddings mode over the router model, lives with the other
model-talking code: ``routeweave.agents.features`` (re-exported here)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from routeweave.agents.features import (
    CPU_LOCK,
    DEFAULT_GGUF,
    LlamaFeatures,
    cache_dir,
    cpu_lock,
    resolve_gguf,
    truncated_gguf,
)

__all__ = ["CPU_LOCK", "DEFAULT_GGUF", "FeatureCache", "LlamaFeatures", "cache_dir", "cpu_lock", "resolve_gguf",
           "text_hash", "truncated_gguf"]


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class FeatureCache:
    """Wraps an Embedder-protocol object with a disk cache (JSON-free NPZ: hex keys + float32 rows)."""

    def __init__(self, inner, folder: Path | None = None) -> None:
        self.inner, self.name = inner, inner.name
        self.spec = getattr(inner, "spec", None)  # how a served pool rebuilds the source (LlamaFeatures)
        self.file = (folder or cache_dir()) / f"{inner.name}.npz"
        self._mem: dict[str, np.ndarray] = {}
        if self.file.exists():
            with np.load(self.file, allow_pickle=False) as z:
                self._mem = dict(zip(z["keys"].tolist(), z["X"]))
        self.dim = next(iter(self._mem.values())).shape[0] if self._mem else getattr(inner, "dim", 0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_hash(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._mem))
        if missing:
            first = {k: t for k, t in zip(keys, texts) if k in set(missing)}
            X = self.inner.embed([first[k] for k in missing])
            self._mem.update(zip(missing, X))
            self.dim = X.shape[1]
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp.npz")
            np.savez(tmp, keys=np.array(list(self._mem)), X=np.stack(list(self._mem.values())))
            tmp.rename(self.file)
        return np.stack([self._mem[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, self.dim), np.float32)
