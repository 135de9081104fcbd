"""Sentence embeddings for routing, fully offline.

``WordLlamaEmbedder`` loads the 256-d WordLlama model that ships inside the ``wordllama`` wheel: its
``cache_dir`` points at the installed package folder and downloads are disabled, so nothing is fetched at
run time. Embeddings are cached in memory by a hash of the text. Any object with ``dim``, ``name`` and
``embed(texts) -> (n, dim) float32 array`` (unit-norm rows) can replace it (the ``Embedder`` protocol)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class CachedEmbedder:
    """Wraps an embedding function with an LRU cache keyed by a 128-bit hash of the text."""

    def __init__(self, name: str, dim: int, max_items: int = 200_000) -> None:
        self.name, self.dim, self.max_items = name, dim, max_items
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _embed_uncached(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for i, k in enumerate(keys):
                v = self._cache.get(k)
                if v is None:
                    missing.setdefault(k, []).append(i)
                else:
                    out[i] = v
        if missing:
            first = [idx[0] for idx in missing.values()]
            vecs = self._embed_uncached([texts[i] for i in first])
            with self._lock:
                for (k, idx), v in zip(missing.items(), vecs):
                    out[idx] = v
                    self._cache[k] = v
                while len(self._cache) > self.max_items:
                    self._cache.popitem(last=False)
        return out

    def cache_size(self) -> int:
        return len(self._cache)


def _wordllama():
    """The wordllama module, imported without the root-logger set-up it does at import
    (`logging.basicConfig(level=INFO)`), which made every library's INFO lines print (gguf's writer in
    `fit`, LiteLLM's in `serve`): the application's logging configuration is its own."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    import wordllama
    import wordllama.inference  # noqa: F401 - it calls basicConfig too

    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    return wordllama


def wordllama_package_dir() -> Path:
    return Path(_wordllama().__file__).resolve().parent


class WordLlamaEmbedder(CachedEmbedder):
    """WordLlama l2_supercat (256-d), loaded lazily from its own package folder, downloads disabled."""

    def __init__(self, config: str = "l2_supercat", dim: int = 256) -> None:
        super().__init__(name=f"wordllama-{config}-{dim}", dim=dim)
        self._config = config
        self._model = None

    def _load(self):
        if self._model is None:
            self._model = _wordllama().WordLlama.load(
                config=self._config, dim=self.dim, cache_dir=wordllama_package_dir(), disable_download=True
            )
        return self._model

    def _embed_uncached(self, texts: list[str]) -> np.ndarray:
        vecs = self._load().embed(texts, norm=True)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process-wide embedder, created on first use (no model is loaded at import)."""
    return WordLlamaEmbedder()
