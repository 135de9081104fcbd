"""The generic long-form outcome format (CSV or JSONL, optionally .gz): one row per (query, model).

Columns: ``query_id`` (str), ``query`` (str), ``model`` (str), ``quality`` (number, higher = better),
``cost_usd`` (number >= 0, optional), ``response`` (str, optional: the model's answer, which policies
that read answers, e.g. ``verifier``, learn from). Every malformed row is an error naming the file and line. A query
missing some model is skipped and reported in ``meta['skipped']``. Missing costs come from a pool file
(price of the expert with that name x len(query)/4 prompt tokens + its max_tokens), else 1 unit/call."""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from routeweave.policies.outcomes import OutcomeTable

from .loaders import DataError, json_lines

REQUIRED = ("query_id", "query", "model", "quality")


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    name = path.name.lower().removesuffix(".gz")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        if name.endswith(".csv"):
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {missing}; need {', '.join(REQUIRED)}[, cost_usd]")
            for row in reader:
                if None in row:
                    raise DataError(f"{path}:{reader.line_num}: more fields than the header has")
                yield reader.line_num, row
        elif name.endswith((".jsonl", ".ndjson")):
            yield from json_lines(path, f.read())
        else:
            raise DataError(f"{path}: unknown format; use .csv or .jsonl (optionally .gz)")


def _num(row: dict, key: str, where: str, *, required: bool) -> float | None:
    v = row.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise DataError(f"{where}: '{key}' is missing")
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise DataError(f"{where}: '{key}' must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise DataError(f"{where}: '{key}' must be finite, got {v!r}")
    if key == "cost_usd" and x < 0:
        raise DataError(f"{where}: 'cost_usd' must be >= 0, got {v!r}")
    return x


def load_generic(path: str | Path, pool: str | Path | None = None) -> OutcomeTable:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    text: dict[str, str] = {}
    cells: dict[tuple[str, str], tuple[float, float | None]] = {}
    answers: dict[tuple[str, str], str] = {}
    models: list[str] = []
    for lineno, row in _rows(path):
        where = f"{path}:{lineno}"
        for key in ("query_id", "query", "model"):
            if not isinstance(row.get(key), (str, int)) or not str(row.get(key)).strip():
                raise DataError(f"{where}: '{key}' is missing or empty")
        qid, query, model = str(row["query_id"]), str(row["query"]), str(row["model"])
        quality = _num(row, "quality", where, required=True)
        cost = _num(row, "cost_usd", where, required=False)
        if text.setdefault(qid, query) != query:
            raise DataError(f"{where}: query_id {qid!r} was given a different query text earlier")
        if (qid, model) in cells:
            raise DataError(f"{where}: duplicate row for query_id {qid!r} and model {model!r}")
        cells[(qid, model)] = (quality, cost)  # type: ignore[assignment]
        answer = row.get("response")
        if answer not in (None, ""):
            if not isinstance(answer, str):
                raise DataError(f"{where}: 'response' must be the model's answer as text, got {type(answer).__name__}")
            answers[(qid, model)] = answer
        if model not in models:
            models.append(model)
    if not cells:
        raise DataError(f"{path}: no rows")
    ids = [q for q in text if all((q, m) in cells for m in models)]
    skipped = [q for q in text if q not in set(ids)]
    if not ids:
        raise DataError(f"{path}: no query has an outcome for every model ({', '.join(models)})")
    Q = np.array([[cells[(q, m)][0] for m in models] for q in ids])
    raw = [[cells[(q, m)][1] for m in models] for q in ids]
    have_cost = any(c is not None for r in raw for c in r)
    if have_cost and any(c is None for r in raw for c in r):
        raise DataError(f"{path}: 'cost_usd' is given for some rows but not all; give it everywhere or nowhere")
    meta: dict = {"source": path.name, "skipped": len(skipped), "skipped_ids": skipped[:20]}
    if have_cost:
        C = np.array(raw, dtype=np.float64)
        meta["cost_note"] = "cost_usd from the file"
    elif pool is not None:
        C = _pool_costs(pool, models, [text[q] for q in ids], path)
        meta["cost_note"] = f"priced from pool {Path(pool).name} (len/4 prompt tokens + max_tokens)"
    else:
        C = np.ones_like(Q)
        meta["cost_note"] = "no costs: 1 unit per call for every model (cost axis is flat)"
    answered = [m for m in models if any((q, m) in answers for q in ids)]
    return OutcomeTable(path.stem, ids, [text[q] for q in ids], models, Q, C, meta=meta,
                        responses={m: [answers.get((q, m)) for q in ids] for m in answered})


def _pool_costs(pool_path: str | Path, models: list[str], queries: list[str], src: Path) -> np.ndarray:
    from routeweave.agents.pool import load_pool

    pool = load_pool(pool_path)
    out = np.zeros((len(queries), len(models)))
    for j, m in enumerate(models):
        try:
            e = pool.expert(m)
        except KeyError:
            raise DataError(f"{src}: model {m!r} is not an expert of pool {pool_path}; add cost_usd or the expert") from None
        for i, q in enumerate(queries):
            out[i, j] = e.typical_cost_usd(max(1, math.ceil(len(q) / 4)))
    return out
