"""The policy protocol: ``decide(request, candidates) -> Decision``, plus batch scoring for offline eval.

A policy has two halves:
- ``scores(texts, candidates) -> (n, m)`` estimates how good each candidate is for each query
  (predicted quality in outcome-table units when ``scores_are_quality``);
- ``route(S, C, knob, rng) -> Routed`` turns scores and per-call costs into a choice per query. The
  knob is the policy's single trade-off dial (``knob_doc``); sweeping it traces the cost-quality curve.

``decide`` is the one place that applies the user's constraints (``apply_constraints``) for every policy.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .embed import Embedder, default_embedder
from .outcomes import OutcomeTable
from .registry import PolicyOptionError, options_failed, unsaved_options
from .types import Candidate, Constraints, Decision, Request

FORMAT = 1


@dataclass
class Routed:
    index: np.ndarray  # (n,) chosen candidate per query; -1 = refused
    cost: np.ndarray  # (n,) cost paid per query (a cascade may pay for two calls)


def apply_constraints(cons: Constraints, candidates: Sequence[Candidate]) -> tuple[list[Candidate], str]:
    """Hard filter shared by every policy. Returns the survivors and, if none survive, why."""
    kept = list(candidates)
    if not kept:
        return [], "no candidates were offered"
    steps: list[tuple[str, Any]] = []
    if cons.allowed is not None:
        only = Constraints(allowed=cons.allowed)
        steps.append((f"allowed={sorted(cons.allowed)}", lambda c: only.allows(c.name)))
    if cons.blocked:
        never = Constraints(blocked=cons.blocked)
        steps.append((f"blocked={sorted(cons.blocked)}", lambda c: never.allows(c.name)))
    if cons.max_cost_usd is not None:
        steps.append((f"max_cost_usd={cons.max_cost_usd:g}", lambda c: c.cost_usd <= cons.max_cost_usd))
    if cons.max_latency_s is not None:
        steps.append(  # an unknown latency can't be shown to meet the limit: never silently passed
            (f"max_latency_s={cons.max_latency_s:g} (an expert without a latency estimate does not qualify: give it "
             "latency_s in the pool)", lambda c: c.latency_s is not None and c.latency_s <= cons.max_latency_s)
        )
    for label, ok in steps:
        kept = [c for c in kept if ok(c)]
        if not kept:
            return [], f"no candidate satisfies {label} (after the earlier constraints)"
    return kept, ""


class Policy(ABC):
    name: ClassVar[str] = ""
    trainable: ClassVar[bool] = False
    eval_only: ClassVar[bool] = False
    scores_are_quality: ClassVar[bool] = True
    extra: ClassVar[str | None] = None  # the pyproject extra this policy needs beyond the core install
    reads_answers: ClassVar[bool] = False  # judges an expert's answer (cascades): see answer_confidence
    default_knob: ClassVar[float | None] = 0.0
    knob_doc: ClassVar[str] = "cost weight lambda >= 0: argmax(score - lambda * normalised cost); 0 = best predicted"

    def __new__(cls, *args: Any, **options: Any) -> "Policy":
        obj = super().__new__(cls)
        obj._given = dict(options)  # the constructor's options: save() checks that params keep each one
        return obj

    def __init__(self, *, seed: int = 0, knob: float | None = None, embedder: Embedder | None = None) -> None:
        self.seed = seed
        self.knob = self.default_knob if knob is None else knob
        self._embedder = embedder
        self.params: dict[str, Any] = {}
        self.model_means: dict[str, float] = {}
        self.cost_scale: float | None = None
        self.fitted = False

    # ---- embeddings -------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(texts))

    # ---- training ---------------------------------------------------------------------------------
    def fit(self, table: OutcomeTable) -> "Policy":
        self.model_means = table.mean_quality()
        mc = table.cost.mean(axis=0)
        self.cost_scale = float(mc.max() - mc.min()) or None
        self._fit(table)
        self.fitted = True
        return self

    def _fit(self, table: OutcomeTable) -> None:
        """Subclasses learn here; the base already stored per-model means and the cost scale."""

    # ---- scoring and routing ------------------------------------------------------------------------
    def prior_scores(self, n: int, candidates: Sequence[Candidate]) -> np.ndarray:
        row = [self.model_means.get(c.key, c.quality_prior if c.quality_prior is not None else np.nan) for c in candidates]
        return np.tile(np.asarray(row, dtype=np.float64), (n, 1))

    @abstractmethod
    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        """(n, m) scores, higher = better; NaN = no estimate."""

    def request_scores(self, request: Request, candidates: Sequence[Candidate]) -> np.ndarray:
        """(1, m) scores for one request; policies fed precomputed features (``Request.features``) override it."""
        return self.checked_scores(self.scores([request.text()], candidates), 1, candidates)

    def table_scores(self, table: OutcomeTable, candidates: Sequence[Candidate]) -> np.ndarray:
        """``scores`` over an outcome table's queries (offline evaluation, calibration); a policy that reads
        answers (``reads_answers``) also reads the table's recorded answers."""
        return self.checked_scores(self.scores(table.queries, candidates), len(table.queries), candidates)

    def checked_scores(self, S: Any, n: int, candidates: Sequence[Candidate], method: str = "scores") -> np.ndarray:
        """``method``'s result as a float array of shape (n queries, m candidates), or an error saying what it was."""
        want = f"expected (n, m) = (queries, candidates) = ({n}, {len(candidates)}): one row per query"
        try:
            A = np.asarray(S, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{self.name or type(self).__qualname__}.{method} returned {type(S).__name__} {S!r:.80}, "
                            f"not numbers: {want}, one column per candidate, as a numpy array") from None
        if A.shape != (n, len(candidates)):
            raise ValueError(f"{self.name or type(self).__qualname__}.{method} returned shape {A.shape}, {want}, one "
                             "column per candidate" + (" (a 1-D result: wrap it as [row])" if A.ndim == 1 else ""))
        return A

    def answer_confidence(self, request: Request, candidate: Candidate, answer: str) -> float | None:
        """A cascade's signal: this policy's P(``candidate``'s ``answer`` is good enough), read from the
        answer itself. None = no opinion (the cascade graph then uses the answer's logprob confidence)."""
        return None

    def feature_needs(self) -> dict[str, dict]:
        """Features this policy needs in ``Request.features`` when served: {feature name: source spec}.
        A serving graph computes them (``Runtime.features``) before ``decide``; most policies need none."""
        return {}

    def quality_estimates(self, S: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
        return S if self.scores_are_quality else self.prior_scores(len(S), candidates)

    def _norm_cost(self, C: np.ndarray) -> np.ndarray:
        base = C - C.min(axis=1, keepdims=True)
        scale = self.cost_scale or float(np.ptp(C.mean(axis=0))) or 1.0
        return base / scale

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        lam = self.knob if knob is None else knob
        lam = 0.0 if lam is None else float(lam)
        rows = np.arange(len(S))
        Cn = self._norm_cost(C)
        S = np.where(np.isnan(S), -1e12, S)
        if np.isinf(lam):
            idx = np.array([np.lexsort((-S[i], Cn[i]))[0] for i in rows], dtype=int)
        else:
            idx = np.argmax(S - lam * Cn - 1e-9 * Cn, axis=1)
        return Routed(idx, C[rows, idx])

    def knob_grid(self, S: np.ndarray, C: np.ndarray, points: int = 41) -> list[float]:
        """Knob values that sweep from 'best predicted' (0) to 'always cheapest' (inf)."""
        Cn = self._norm_cost(C)
        cheap = np.argmin(Cn + 1e-12 * np.arange(C.shape[1]), axis=1)
        rows = np.arange(len(S))
        dS = np.nan_to_num(S, nan=-1e12) - np.nan_to_num(S[rows, cheap], nan=-1e12)[:, None]
        dC = Cn - Cn[rows, cheap][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where((dC > 0) & (dS > 0), dS / dC, np.nan)
        r = r[np.isfinite(r)]
        qs = np.quantile(r, np.linspace(0, 1, points)) if r.size else np.array([])
        return [0.0, *sorted({float(x) * (1 + 1e-9) for x in qs}), float("inf")]

    # ---- the graph-facing call ----------------------------------------------------------------------
    def _rng(self, request: Request) -> np.random.Generator:
        if request.seed is not None:
            return np.random.default_rng(request.seed)
        h = hashlib.blake2b(f"{self.seed}\x00{request.query}".encode(), digest_size=8).digest()
        return np.random.default_rng(int.from_bytes(h, "little"))

    def refusal(self, reason: str, scores: dict[str, float] | None = None) -> Decision:
        return Decision(policy=self.name, refused=True, reason=reason[:500], scores=scores or {},
                        safe_reply="I can't route this request: " + reason[:300])

    def decide(self, request: Request, candidates: Sequence[Candidate]) -> Decision:
        cands, why = apply_constraints(request.constraints, candidates)
        if not cands:
            return self.refusal(why)
        S = self.checked_scores(self.request_scores(request, cands), 1, cands, "request_scores")
        scores = {c.name: round(float(s), 6) for c, s in zip(cands, S[0]) if np.isfinite(s)}
        mq = request.constraints.min_quality
        if mq is not None:
            Q = self.quality_estimates(S, cands)[0]
            keep = [i for i in range(len(cands)) if np.isfinite(Q[i]) and Q[i] >= mq]
            if not keep:
                return self.refusal(f"no candidate has predicted quality >= min_quality={mq:g}", scores)
            cands, S = [cands[i] for i in keep], S[:, keep]
        C = np.array([[c.cost_usd for c in cands]], dtype=np.float64)
        knob = self.knob if request.knob is None else request.knob
        routed = self.route(S, C, knob, self._rng(request))
        i = int(routed.index[0])
        if i < 0:
            return self.refusal(f"{self.name} refused", scores)
        return self._decision(i, cands, S[0], scores, knob, request)

    def _decision(self, i: int, cands: list[Candidate], s: np.ndarray, scores: dict[str, float],
                  knob: float | None, request: Request) -> Decision:
        c = cands[i]
        why = ([f"score {s[i]:.3g}"] if np.isfinite(s[i]) else []) + [f"${c.cost_usd:.2g}/call"]
        why += [] if knob is None or self.knob_doc.startswith("none") else [f"knob {knob:g}"]
        return Decision(policy=self.name, experts=[c.name], scores=scores, knob=knob,
                        reason=f"{self.name}: {c.name} ({', '.join(why)})")

    # ---- knob calibration on the user's own traffic -------------------------------------------------------
    def calibrate(self, table: OutcomeTable, *, target_strong_share: float | None = None,
                  target_quality: float | None = None) -> float:
        """Set ``self.knob`` from an outcome table of the user's traffic: the knob whose share of calls to the
        strongest model is closest to (not above) ``target_strong_share``, or the cheapest knob whose mean
        quality reaches ``target_quality``."""
        if (target_strong_share is None) == (target_quality is None):
            raise ValueError("give exactly one of target_strong_share / target_quality")
        cands = table.candidates()
        S, C = self.table_scores(table, cands), table.cost
        strong, rows, rng = table.strongest(), np.arange(len(table)), np.random.default_rng(self.seed)
        best: tuple[float, float] | None = None  # (objective, knob)
        for k in self.knob_grid(S, C):
            r = self.route(S, C, k, rng)
            q = np.where(r.index >= 0, table.quality[rows, np.maximum(r.index, 0)], table.quality.min()).mean()
            if target_strong_share is not None:
                share = float(np.mean(r.index == strong))
                obj = target_strong_share - share if share <= target_strong_share + 1e-12 else np.inf
            else:
                obj = float(r.cost.mean()) if q >= target_quality else np.inf
            if best is None or obj < best[0]:
                best = (obj, k)
        if best is None or not np.isfinite(best[0]):
            raise ValueError("no knob value reaches the target on this table")
        self.knob = best[1]
        return best[1]

    # ---- persistence (JSON + NPZ, never pickle) -------------------------------------------------------------
    def _state_json(self) -> dict[str, Any]:
        return {}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        pass

    def save(self, directory: str | Path) -> Path:
        lost = unsaved_options(self, getattr(self, "_given", {}))
        if lost:
            raise ValueError(lost)
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "policy": self.name, "params": self.params, "seed": self.seed,
                "knob": self.knob if self.knob is None or np.isfinite(self.knob) else str(float(self.knob)),  # "inf"
                "model_means": self.model_means, "cost_scale": self.cost_scale, "fitted": self.fitted,
                "embedder": getattr(self._embedder, "name", "default"), "state": self._state_json()}
        (d / "policy.json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        arrays = self._state_arrays()
        if arrays:
            np.savez(d / "arrays.npz", **arrays)
        return d

    @classmethod
    def saved_extras(cls, directory: str | Path) -> set[str]:
        """The pyproject extras a policy saved in ``directory`` needs to be served (read, not loaded)."""
        return {cls.extra} if cls.extra else set()

    @classmethod
    def load(cls, directory: str | Path, **options: Any) -> "Policy":
        d = Path(directory)
        meta = json.loads((d / "policy.json").read_text(encoding="utf-8"))
        if meta.get("policy") != cls.name:
            raise ValueError(f"{d} holds a '{meta.get('policy')}' policy, not '{cls.name}'")
        knob = meta["knob"] if not isinstance(meta["knob"], str) else float(meta["knob"])  # "inf", "-inf"
        given = {"seed": meta["seed"], "knob": knob, **meta["params"], **options}
        try:
            obj = cls(**given)
        except TypeError as exc:
            raise PolicyOptionError(f"{d}: {options_failed(cls, given, exc)} (saved by another version? refit "
                                    "and save it again)") from exc
        obj.model_means, obj.cost_scale, obj.fitted = meta["model_means"], meta["cost_scale"], meta["fitted"]
        arrays: dict[str, np.ndarray] = {}
        if (d / "arrays.npz").exists():
            with np.load(d / "arrays.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        obj._restore(meta["state"], arrays)
        return obj
