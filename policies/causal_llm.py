"""RouteLLM's causal-LLM classifier, CPU-sized: a calibrated quality head (``policies/head.py``) over
features of the *router model itself* (the embedded pool's SmolLM2-135M, no adapter): its mean-pooled
hidden states, plus cheap surface features of the text.

The policy never calls a model. Features reach it in one of two ways:
- per request, ``Request.features[<feature name>]``: in a served pool the decide node fills it in from the
  runtime's feature server (``Runtime.features(policy.feature_source)``, started on first use);
- a feature source object handed in as ``features=`` (Embedder protocol: ``name``, ``dim``,
  ``embed(texts)``), e.g. ``routeweave.agents.features.LlamaFeatures`` for offline runs.
The feature name is fixed when the policy is fitted and saved with it; a request or source whose
features have another name or dimension is refused with both named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .embed import Embedder
from .head import HeadPolicy
from .registry import register
from .types import Candidate, Request


class FeaturesMissing(RuntimeError):
    """causal_llm was asked to score texts without features of the router model."""


@register("causal_llm")
class CausalLlmPolicy(HeadPolicy):
    feature_kind = "router-llm"
    extra = "router-features"  # the gguf package builds the truncated router GGUF its features come from

    def __init__(self, *, features: Embedder | None = None, encoder: Embedder | None = None, **kw: Any) -> None:
        if features is not None and encoder is not None and features is not encoder:
            raise ValueError("give the router-model features once: features= (or its alias encoder=)")
        super().__init__(encoder=features if features is not None else encoder, **kw)
        self.feature_dim = 0
        self.feature_source: dict | None = None  # the source's spec (gguf, layers): a served pool rebuilds it

    def default_encoder(self) -> Embedder:
        raise FeaturesMissing(
            "causal_llm needs features of the router model: pass them per request as "
            "Request.features[<name>] (the feature server does this when serving), or construct the policy "
            "with features=<an Embedder-protocol source>, e.g. "
            "routeweave.agents.features.LlamaFeatures() for offline evaluation")

    def _fit(self, table) -> None:
        super()._fit(table)
        self.feature_dim = int(self.head.mu.shape[0] - self.features(["x"], np.zeros((1, 0))).shape[1])
        self.feature_source = getattr(self.encoder, "spec", None)

    def _check_source(self) -> None:
        name = getattr(self.encoder, "name", "")
        if self.fitted and self.encoder_name and name != self.encoder_name:
            raise FeaturesMissing(f"causal_llm was fitted on features '{self.encoder_name}' but is given '{name}'")

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        if not self.fitted:
            return self.prior_scores(len(texts), candidates)
        self._check_source()
        return self.scores_from(texts, candidates)

    def request_scores(self, request: Request, candidates: Sequence[Candidate]) -> np.ndarray:
        if not self.fitted:
            return self.prior_scores(1, candidates)
        vec = request.features.get(self.encoder_name)
        if vec is None:
            if request.features:
                raise FeaturesMissing(f"causal_llm needs Request.features['{self.encoder_name}'] but the request "
                                      f"carries {sorted(request.features)}")
            return self.scores([request.text()], candidates)
        if len(vec) != self.feature_dim:
            raise FeaturesMissing(f"Request.features['{self.encoder_name}'] has {len(vec)} values, the policy was "
                                  f"fitted on {self.feature_dim}")
        return self.scores_from([request.text()], candidates, encoded=np.asarray([vec], np.float32))

    def feature_needs(self) -> dict[str, dict]:
        """The router model's features, once fitted: the serving runtime rebuilds their source from the spec."""
        return {self.encoder_name: self.feature_source} if self.fitted and self.feature_source else {}

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "feature_dim": self.feature_dim, "feature_source": self.feature_source}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self.feature_dim = int(state.get("feature_dim", 0))
        self.feature_source = state.get("feature_source")
