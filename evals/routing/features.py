"""Where offline evaluation gets the encoders and model features that some policies are handed:
``bert``'s MiniLM encoder ("text-encoder") and ``causal_llm``'s router-model features ("router-llm"),
each wrapped in an on-disk cache (``~/.cache/routeweave/features`` or ``$ROUTEWEAVE_CACHE_DIR/features``)
so a second run does not recompute them. Created on first use, once per process."""

from __future__ import annotations

import os
from typing import Any

from routeweave.agents.errors import ConfigError
from routeweave.policies import policy_class

from .llm_features import FeatureCache, LlamaFeatures

# causal_llm's default features: SmolLM2-135M truncated to its first 4 of 30 blocks, the depth that fits a
# 50 ms decision budget on 2 cores (ROUTEWEAVE_ROUTER_LLM_LAYERS=0 for the full model).
ROUTER_LLM_LAYERS = 4
_SOURCES: dict[str, Any] = {}


def router_llm_layers() -> int | None:
    """causal_llm's feature depth: ``ROUTEWEAVE_ROUTER_LLM_LAYERS`` blocks (0: all), else the default."""
    raw = os.environ.get("ROUTEWEAVE_ROUTER_LLM_LAYERS", str(ROUTER_LLM_LAYERS))
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise ConfigError(f"ROUTEWEAVE_ROUTER_LLM_LAYERS={raw!r}: give a whole number of the router model's blocks, "
                          f"e.g. 3 (0: all of them), or unset it for the default {ROUTER_LLM_LAYERS}")
    return n or None


def source(kind: str) -> Any:
    if kind not in _SOURCES:
        if kind == "text-encoder":
            from routeweave.policies.minilm import MiniLMEmbedder

            _SOURCES[kind] = FeatureCache(MiniLMEmbedder())
        elif kind == "router-llm":
            _SOURCES[kind] = FeatureCache(LlamaFeatures(layers=router_llm_layers()))
        else:
            raise KeyError(f"no feature source of kind '{kind}'")
    return _SOURCES[kind]


class LazySources(dict):
    def __missing__(self, kind: str) -> Any:
        return source(kind)

    def __contains__(self, kind: object) -> bool:
        return kind in ("text-encoder", "router-llm")


def policy_options(name: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The policy's options with its feature source filled in (an explicit option wins)."""
    opts = dict(options or {})
    cls = policy_class(name)
    kind = getattr(cls, "feature_kind", "")
    if kind and "encoder" not in opts and "features" not in opts:
        opts["encoder"] = source(kind)
    if getattr(cls, "takes_sources", False) and "sources" not in opts:
        opts["sources"] = LazySources()
    return opts
