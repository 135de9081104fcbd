"""Answer scoring (SQuAD-style exact match and token F1) and a run summary. Pure functions, no I/O.

`normalize_answer` is the SQuAD / FlashRAG / Router-R1 normaliser (lower case, drop punctuation, drop the
articles a/an/the, collapse whitespace) with two Unicode-safe additions: text is NFC-normalised, and
Unicode punctuation (curly quotes, dashes, ellipses) is dropped like ASCII punctuation. On plain ASCII
it is identical to SQuAD's, so numbers stay comparable with Router-R1 / FlashRAG tables.

Two guards the reference code lacks: an empty or None prediction (or one that normalises to nothing,
like "the") scores 0; and a gold answer that normalises to nothing (the band "!!!", "The The", NQ's
"*") is compared on its case-folded raw text instead, so it can still be matched but not by "".
F1 follows HotpotQA's official script (and FlashRAG): when either side is "yes", "no" or "noanswer" and
the two differ, the pair scores 0 instead of partial token overlap.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

_ASCII_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_YES_NO = frozenset({"yes", "no", "noanswer"})


def normalize_answer(text: str | None) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(c for c in text if c not in _ASCII_PUNCT and not unicodedata.category(c).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _raw(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def _golds(golds: str | Sequence[str] | None) -> list[str]:
    if golds is None:
        return []
    return [golds] if isinstance(golds, str) else [g for g in golds if isinstance(g, str) and g.strip()]


def answer_seen(replies: Sequence[str | None], golds: str | Sequence[str] | None) -> float | None:
    """1.0 if a gold answer appears (normalised, whole words) in an expert's reply, else 0.0; None when
    that says nothing: a yes/no answer, no gold, or no reply at all. It splits a wrong answer into "never
    found" (0) and "found but not read out" (1, with EM 0). The whole reply counts, though a router may
    read less of it (Router-R1's reads the first 700 characters of each)."""
    wanted = [normalize_answer(g) for g in _golds(golds)]
    wanted = [g for g in wanted if g and g not in _YES_NO]
    texts = [normalize_answer(r) for r in replies if r]
    if not wanted or not texts:
        return None
    return float(any(f" {g} " in f" {t} " for g in wanted for t in texts))


def _pair_f1(pred: str, gold: str) -> float:
    if (pred in _YES_NO or gold in _YES_NO) and pred != gold:
        return 0.0
    same = sum((Counter(pred.split()) & Counter(gold.split())).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred.split()), same / len(gold.split())
    return 2 * precision * recall / (precision + recall)


def _best(prediction: Any, golds: str | Sequence[str] | None, pair: Callable[[str, str], float]) -> float:
    if prediction is None:
        return 0.0
    prediction = prediction if isinstance(prediction, str) else str(prediction)
    pred_norm, pred_raw = normalize_answer(prediction), _raw(prediction)
    if not pred_raw:
        return 0.0
    best = 0.0
    for gold in _golds(golds):
        if gold_norm := normalize_answer(gold):
            score = pair(pred_norm, gold_norm) if pred_norm else 0.0
        else:  # the gold answer is all punctuation/articles: compare raw text
            score = float(pred_raw == _raw(gold))
        best = max(best, score)
    return best


def exact_match(prediction: str | None, golds: str | Sequence[str] | None) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    return _best(prediction, golds, lambda p, g: float(p == g))


def f1(prediction: str | None, golds: str | Sequence[str] | None) -> float:
    """Best token-level F1 of the normalised prediction against the gold answers (0.0 if none)."""
    return _best(prediction, golds, _pair_f1)


FAILED_STOP = "failed"  # a session's stop_reason when every call it needed failed: counted as an error, retried


def is_error_row(row: dict[str, Any]) -> bool:
    """A row that failed rather than answered wrong: the harness's error (timeout, exception) or a failed session.
    `ResultStore.done_keys(include_errors=False)` says the same in SQL."""
    return bool(row.get("error")) or row.get("stop_reason") == FAILED_STOP


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stats(_Frozen):
    """Aggregates over a group of scored rows. Means are over all rows; missing numbers count as 0, so a
    question that errored counts as wrong."""

    count: int
    em: float
    f1: float
    cost_usd_total: float
    cost_usd_mean: float
    cost_units_total: float
    cost_units_mean: float
    rounds_mean: float
    expert_calls_mean: float
    latency_s_mean: float
    errors: int
    seen: float | None = None  # share of the judgeable questions whose answer was in an expert's reply (answer_seen)
    em_if_seen: float | None = None  # EM over those questions: how often a found answer was read out
    retried_usd_total: float = 0.0  # spent by failed attempts that --retry-errors re-ran (not in cost_usd_total)
    truncated: int = 0  # answers cut at their call's token limit (finish_reason 'length'): raise the model's max_tokens


_NUMERIC = ("em", "f1", "cost_usd", "cost_units", "rounds", "expert_calls", "latency_s")


def _field(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


def _stats(rows: list[dict[str, Any]]) -> Stats:
    n = len(rows)
    total = {k: sum(r[k] for r in rows) for k in _NUMERIC}
    mean = {k: (total[k] / n if n else 0.0) for k in _NUMERIC}
    return Stats(
        count=n, em=mean["em"], f1=mean["f1"],
        cost_usd_total=total["cost_usd"], cost_usd_mean=mean["cost_usd"],
        cost_units_total=total["cost_units"], cost_units_mean=mean["cost_units"],
        rounds_mean=mean["rounds"], expert_calls_mean=mean["expert_calls"], latency_s_mean=mean["latency_s"],
        errors=sum(1 for r in rows if r["error"]), retried_usd_total=sum(r["retried_usd"] for r in rows),
        truncated=sum(1 for r in rows if r["truncated"]),
        **_seen(rows),
    )


def _seen(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    judged = [r for r in rows if r.get("seen") is not None]
    found = [r for r in judged if r["seen"]]
    return {"seen": sum(r["seen"] for r in judged) / len(judged) if judged else None,
            "em_if_seen": sum(r["em"] for r in found) / len(found) if found else None}


class Summary(_Frozen):
    """Per-dataset and overall aggregates of a run. Build it with `Summary.from_rows`."""

    overall: Stats
    datasets: dict[str, Stats]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any] | Any]) -> Summary:
        """Rows are mappings or objects with ``dataset``, ``em``, ``f1``, ``cost_usd``, ``cost_units``,
        ``rounds``, ``expert_calls``, ``latency_s`` and ``error`` (truthy = the question failed)."""
        clean: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            item: dict[str, Any] = {"dataset": str(_field(row, "dataset") or "unknown")}
            item["error"] = is_error_row({"error": _field(row, "error"), "stop_reason": _field(row, "stop_reason")})
            item["truncated"] = bool(_field(row, "truncated"))
            for key in (*_NUMERIC, "seen", "retried_usd"):
                value = _field(row, key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise ValueError(f"row {i}: {key} must be a number or None, got {value!r}")
                item[key] = None if value is None and key == "seen" else float(value or 0.0)
            clean.append(item)
        names = sorted({r["dataset"] for r in clean})
        return cls(
            overall=_stats(clean), datasets={d: _stats([r for r in clean if r["dataset"] == d]) for d in names}
        )

    def markdown(self) -> str:
        """A Markdown table: one line per dataset, then the overall line."""
        head = ("| dataset | n | EM | F1 | cost $ | $/q | units/q | rounds | calls | latency s | errors "
                "| answer seen | EM if seen |")
        lines = [head, "|---|" + "---:|" * 12]
        for name, s in [*self.datasets.items(), ("overall", self.overall)]:
            lines.append(
                f"| {name} | {s.count} | {s.em:.3f} | {s.f1:.3f} | {s.cost_usd_total:.4f} | {s.cost_usd_mean:.5f} "
                f"| {s.cost_units_mean:.1f} | {s.rounds_mean:.2f} | {s.expert_calls_mean:.2f} "
                f"| {s.latency_s_mean:.2f} | {s.errors} | {share(s.seen)} | {share(s.em_if_seen)} |"
            )
        return "\n".join(lines)


def share(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
