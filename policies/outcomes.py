"""The outcome table a trainable policy fits on: queries x models -> quality and cost (numpy arrays).

Lives in policies/ (not evals/) so that training a policy never depends on the evaluation code;
``routeweave.evals.routing.table`` re-exports it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .types import Candidate


@dataclass
class OutcomeTable:
    name: str
    query_ids: list[str]
    queries: list[str]
    models: list[str]
    quality: np.ndarray  # (n, m) float, higher is better
    cost: np.ndarray  # (n, m) float, USD (or nominal units) per call
    meta: dict = field(default_factory=dict)
    # each model's recorded answer per query, for the models whose answers were recorded (policies that
    # read answers, e.g. `verifier`, learn from them); None where one query's answer is missing
    responses: dict[str, list[str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quality = np.asarray(self.quality, dtype=np.float64)
        self.cost = np.asarray(self.cost, dtype=np.float64)
        n, m = len(self.queries), len(self.models)
        if self.quality.shape != (n, m) or self.cost.shape != (n, m):
            raise ValueError(f"{self.name}: quality {self.quality.shape} / cost {self.cost.shape} != ({n}, {m})")
        if len(self.query_ids) != n:
            raise ValueError(f"{self.name}: {len(self.query_ids)} ids for {n} queries")
        if len(set(self.models)) != m:
            raise ValueError(f"{self.name}: repeated model names")
        if not np.isfinite(self.quality).all() or not np.isfinite(self.cost).all():
            raise ValueError(f"{self.name}: quality/cost must be finite (drop incomplete queries first)")
        for model, answers in self.responses.items():
            if model not in self.models:
                raise ValueError(f"{self.name}: answers recorded for '{model}', which is not one of its models")
            if len(answers) != n:
                raise ValueError(f"{self.name}: {len(answers)} recorded answers of '{model}' for {n} queries")

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, idx: np.ndarray | list[int], suffix: str = "") -> "OutcomeTable":
        idx = np.asarray(idx, dtype=int)
        return OutcomeTable(
            name=self.name + suffix,
            query_ids=[self.query_ids[i] for i in idx],
            queries=[self.queries[i] for i in idx],
            models=list(self.models),
            quality=self.quality[idx],
            cost=self.cost[idx],
            meta=dict(self.meta),
            responses={m: [a[i] for i in idx] for m, a in self.responses.items()},
        )

    def mean_quality(self) -> dict[str, float]:
        return {m: float(v) for m, v in zip(self.models, self.quality.mean(axis=0))}

    def mean_cost(self) -> dict[str, float]:
        return {m: float(v) for m, v in zip(self.models, self.cost.mean(axis=0))}

    def candidates(self) -> list[Candidate]:
        """One candidate per model, priced at the model's mean cost per call in this table."""
        mc = self.mean_cost()
        return [Candidate(name=m, cost_usd=mc[m]) for m in self.models]

    def cheapest(self) -> int:
        """Index of the cheapest model (ties: the lowest mean quality, so 'weak' is well defined)."""
        c, q = self.cost.mean(axis=0), self.quality.mean(axis=0)
        return int(np.lexsort((q, c))[0])

    def strongest(self) -> int:
        """Index of the model with the best mean quality (ties: the cheapest)."""
        c, q = self.cost.mean(axis=0), self.quality.mean(axis=0)
        return int(np.lexsort((c, -q))[0])
