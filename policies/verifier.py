"""``verifier``: a cascade that reads the answer (FrugalGPT's answer scorer, AutoMix's verifier).

The cheapest expert on the cost/quality frontier answers first; a per-expert logistic head reads that
answer (``answer_stats``: recomputed calculations, hedging, the final number, ...) together with the
query's own difficulty cues (``rich_text_stats``) and predicts P(this answer is good enough) = P(its
quality >= the best model's quality - tolerance), the label ``threshold`` uses. The cascade keeps the
answer when P >= t (the knob) and escalates to the next expert otherwise; every escalation pays for the
calls already made. Nothing is embedded and no model is called: the heads read text.

It learns from an outcome table that records each model's answers (``OutcomeTable.responses``: RouteLLM's
GSM8K table does; ``routeweave fit`` takes them from the runs' predictions). Offline (``eval routing``)
it reads the recorded answers of the test queries; in the cascade graph, the answer the expert just
gave. Before any answer exists (the first decision) its scores are each model's training rate of
good-enough answers, which only orders the chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._common import fit_logreg, logreg_proba, rich_text_stats
from .answer_stats import answer_matrix
from .outcomes import OutcomeTable
from .registry import register
from .threshold import CascadePolicy
from .types import Candidate, Request


@register("verifier")
class VerifierPolicy(CascadePolicy):
    reads_answers = True
    knob_doc = "escalate while P(the answer is good enough) < t, read from the answer itself (t in [0, 1])"

    def __init__(self, *, tolerance: float = 0.0, l2: float = 3.0, **base: Any) -> None:
        super().__init__(tolerance=tolerance, l2=l2, text_features=False, **base)
        self.params = {"tolerance": tolerance, "l2": l2}
        self._judged: list[str] = []  # models with a head (their answers were recorded)
        self._base = np.zeros(0)  # per model of the table: training share of good-enough answers

    @staticmethod
    def _answer_features(queries: Sequence[str], answers: Sequence[str | None]) -> np.ndarray:
        return np.hstack([answer_matrix(queries, answers), rich_text_stats(queries)])

    def _fit(self, table: OutcomeTable) -> None:
        self._models = list(table.models)
        self._judged = [m for m in table.models if any(a is not None for a in table.responses.get(m, []))]
        if not self._judged:
            raise ValueError(f"the verifier learns from the answers the models gave, and the outcome table "
                             f"'{table.name}' records none (RouteLLM's GSM8K table does; a generic table gives "
                             f"them in a 'response' column; `routeweave fit` takes them from the runs' predictions)")
        Q = table.quality
        good = Q >= Q[:, [table.strongest()]] - self.tolerance - 1e-12
        self._base = good.mean(axis=0)
        W, mu, sd = [], [], []
        for m in self._judged:
            j = table.models.index(m)
            rows = [i for i, a in enumerate(table.responses[m]) if a is not None]
            X = self._answer_features([table.queries[i] for i in rows], [table.responses[m][i] for i in rows])
            y = good[rows, j].astype(np.float64)
            m_, s_ = X.mean(0), X.std(0) + 1e-9
            if y.min() == y.max():  # always (or never) good enough: a constant probability
                w = np.zeros(X.shape[1] + 1)
                w[-1] = 30.0 if y[0] else -30.0
            else:
                w = fit_logreg((X - m_) / s_, y, l2=self.l2)
            W.append(w), mu.append(m_), sd.append(s_)
        self._W, self._mu, self._sd = np.array(W), np.array(mu), np.array(sd)

    def _judge(self, model: str, queries: Sequence[str], answers: Sequence[str | None]) -> np.ndarray:
        k = self._judged.index(model)
        return logreg_proba((self._answer_features(queries, answers) - self._mu[k]) / self._sd[k], self._W[k])

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        """Before an answer exists: each model's training share of good-enough answers (orders the chain)."""
        S = self.prior_scores(len(texts), candidates)
        if not self.fitted:
            return S
        return self._onto(np.tile(self._base, (len(texts), 1)), S, candidates)

    def table_scores(self, table: OutcomeTable, candidates: Sequence[Candidate]) -> np.ndarray:
        """P(good enough) of each recorded answer; a model without recorded answers keeps its prior."""
        S = self.scores(table.queries, candidates)
        if not self.fitted:
            return S
        for j, c in enumerate(candidates):
            answers = table.responses.get(c.key)
            if c.key in self._judged and answers is not None:
                rows = [i for i, a in enumerate(answers) if a is not None]
                if rows:
                    S[rows, j] = self._judge(c.key, [table.queries[i] for i in rows], [answers[i] for i in rows])
        return S

    def answer_confidence(self, request: Request, candidate: Candidate, answer: str) -> float | None:
        if not self.fitted or candidate.key not in self._judged:
            return None
        return float(self._judge(candidate.key, [request.query], [answer])[0])

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "judged": self._judged}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {**super()._state_arrays(), "base": self._base}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self._judged = list(state.get("judged", []))
        self._base = arrays.get("base", self._base)
