"""A stacked policy: a calibrated quality head over the per-model scores of other policies.

``fit`` cross-fits every member (``folds``-fold on the training table: each member is fitted on the other
folds and scores the held-out one), so the meta-head learns from out-of-fold scores only and its
predictions stay calibrated; then every member is refitted on the whole table. The meta-features of a
query are all members' scores for all the table's models (logit-transformed when they are
probabilities); the head is ``policies/head.py``'s per-model logistic regression, so the stack's scores are
predicted quality in outcome-table units, like bert's and causal_llm's.

Members that need an encoder or model features (``bert``, ``causal_llm``) get them from ``sources``
({feature_kind: Embedder-protocol object}); members without a source create their default."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import TablePolicy
from .base import Policy
from .head import QualityHead
from .outcomes import OutcomeTable
from .registry import policy_class, register
from .types import Candidate, Request

# chosen on the training part of MMLU's default split only (inner 70/30 split, seed 1): APGR 0.680 vs 0.671 for
# knn+threshold+bert; see docs/routing-results.md
DEFAULT_MEMBERS = ("knn", "mf", "sw_ranking", "threshold", "cluster", "bert")


def _logit(S: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(S), np.nanmax(S)
    if lo >= 0 and hi <= 1:
        P = np.clip(S, 1e-4, 1 - 1e-4)
        return np.log(P / (1 - P))
    return S


@register("stack")
class StackPolicy(TablePolicy):
    extra = "bert"  # the default members include bert; a saved stack needs its own members' extras
    takes_sources = True

    def __init__(self, *, members: Sequence[str] = DEFAULT_MEMBERS, folds: int = 5, l2: float | None = None,
                 meta: str = "own", sources: Mapping[str, Any] | None = None, **base: Any) -> None:
        super().__init__(**base)
        if not members:
            raise ValueError("stack needs at least one member policy")
        bad = [m for m in members if m == "stack" or policy_class(m).eval_only]
        if bad:
            raise ValueError(f"stack members cannot be {bad}")
        readers = [m for m in members if policy_class(m).reads_answers]
        if readers:
            raise ValueError(f"stack members score queries before any answer exists; {readers} read answers: "
                             f"run them as a cascade (`--graph cascade --policy {readers[0]}`), not in a stack")
        if meta not in ("own", "all"):
            raise ValueError("meta must be 'own' (model j's head sees each member's score for j) or 'all'")
        self.members, self.folds, self.l2, self.meta = list(members), folds, l2, meta
        self.params = {"members": self.members, "folds": folds, "l2": l2, "meta": meta}
        self.sources = {} if sources is None else sources
        self._shared: dict[str, Any] = {}
        self._fitted: list[Policy] = []
        self.head = QualityHead(l2=l2, seed=self.seed)

    def _member(self, name: str) -> Policy:
        """A fresh member; members of one feature kind share one encoder (and so its embedding cache)."""
        cls = policy_class(name)
        kind = getattr(cls, "feature_kind", "")
        opts: dict[str, Any] = {"seed": self.seed}
        if kind and kind in self.sources:
            opts["encoder"] = self.sources[kind]
        elif kind and kind in self._shared:
            opts["encoder"] = self._shared[kind]
        elif self._embedder is not None:
            opts["embedder"] = self._embedder
        member = cls(**opts)
        if kind and kind not in self.sources and kind not in self._shared:
            self._shared[kind] = member.encoder
        return member

    def _meta(self, policies: Sequence[Policy], texts: Sequence[str], cands: Sequence[Candidate]) -> np.ndarray:
        return np.hstack([_logit(p.scores(texts, cands)) for p in policies])

    def _fit(self, table: OutcomeTable) -> None:
        self._models = list(table.models)
        cands = [Candidate(name=m) for m in table.models]
        n = len(table)
        k = max(2, min(self.folds, n))
        fold = np.random.default_rng(self.seed).permutation(n) % k
        F = None
        for f in range(k):
            tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            part = table.subset(tr)
            fitted = [self._member(m).fit(part) for m in self.members]
            block = self._meta(fitted, [table.queries[i] for i in te], cands)
            F = np.zeros((n, block.shape[1])) if F is None else F
            F[te] = block
        self.head.fit(F, table.quality, own=len(self.members) if self.meta == "own" else 0)
        self._fitted = [self._member(m).fit(table) for m in self.members]

    def _predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        cands = [Candidate(name=m) for m in self._models]
        return self.head.predict(self._meta(self._fitted, texts, cands))

    def feature_needs(self) -> dict[str, dict]:
        return {name: spec for p in self._fitted for name, spec in p.feature_needs().items()}

    def request_scores(self, request: Request, candidates: Sequence[Candidate]) -> np.ndarray:
        """Each member scores the request itself, so members fed precomputed features (causal_llm) get them."""
        S = self.prior_scores(1, candidates)
        if not self.fitted:
            return S
        cands = [Candidate(name=m) for m in self._models]
        meta = np.hstack([_logit(p.request_scores(request, cands)) for p in self._fitted])
        return self._onto(self.head.predict(meta), S, candidates)

    # ---- persistence: the head here, each member in its own sub-folder ------------------------------
    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "head": self.head.state_json()}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return self.head.state_arrays()

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self.head.restore(state.get("head", {}), arrays)

    def save(self, directory):
        d = super().save(directory)
        for name, p in zip(self.members, self._fitted):
            p.save(d / "members" / name)
        return d

    @classmethod
    def saved_extras(cls, directory) -> set[str]:
        members = json.loads((Path(directory) / "policy.json").read_text(encoding="utf-8"))["params"]["members"]
        return set().union(*(policy_class(m).saved_extras(Path(directory) / "members" / m) for m in members))

    @classmethod
    def load(cls, directory, **options: Any) -> "StackPolicy":
        obj = super().load(directory, **options)
        if obj.fitted:
            opts = {k: v for k, v in options.items() if k in ("embedder",)}
            obj._fitted = []
            for name in obj.members:
                kind = getattr(policy_class(name), "feature_kind", "")
                extra = {"encoder": obj.sources[kind]} if kind and kind in obj.sources else opts
                obj._fitted.append(policy_class(name).load(Path(directory) / "members" / name, **extra))
        return obj
