"""The generic long-form outcome format (CSV or JSONL, optionally .gz): one row per (query, model).

Columns: ``query_id`` (str), ``query`` (str), ``model`` (str), ``quality`` (number, higher = better),
``cost_usd`` (number >= 0, optional), ``response`` (str, optional: the model's answer, which policies
that read answers, e.g. ``verifier``, learn from). UTF-8 text (a leading byte-order mark, as Excel's "CSV UTF-8"
writes, is fine). Every malformed row is an error naming the file and line; so is a table of fewer than 2 models.
A query missing some model is skipped and reported in ``meta['skipped']`` (``skipped_ids``, ``skipped_missing``:
model -> how many skipped queries lack it). Missing costs come from a pool file (price of the expert with that
name x len(query)/4 prompt tokens + its max_tokens), else 1 unit/call; a pool with a file that has cost_usd is
refused (the file's costs are used)."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from routeweave.policies.outcomes import OutcomeTable

from .loaders import DataError, json_lines

REQUIRED = ("query_id", "query", "model", "quality")


def _text(path: Path) -> str:
    """The file's text, strictly UTF-8; a leading byte-order mark is dropped."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc}); compress it with gzip, or drop '.gz' from its name") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check that it is a readable file") from None
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8 (Excel: "
                        "'CSV UTF-8'; or iconv -f cp1252 -t utf-8 FILE > NEW)") from None


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(_text(path), newline=""))
        try:
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {missing}; need {', '.join(REQUIRED)}[, cost_usd]")
            for row in reader:
                if None in row:
                    raise DataError(f"{path}:{reader.line_num}: more fields than the header has")
                yield reader.line_num, row
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    elif name.endswith((".jsonl", ".ndjson")):
        yield from json_lines(path, _text(path))
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
    if len(models) < 2:
        raise DataError(f"{path}: has outcomes for 1 model ({models[0]!r}); routing chooses between models: add rows "
                        "(one per query) for at least one more model")
    ids = [q for q in text if all((q, m) in cells for m in models)]
    skipped = [q for q in text if q not in set(ids)]
    lacking = {m: sum((q, m) not in cells for q in skipped) for m in models}
    if not ids:
        raise DataError(f"{path}: no query has an outcome for every model ({', '.join(models)})")
    Q = np.array([[cells[(q, m)][0] for m in models] for q in ids])
    raw = [[cells[(q, m)][1] for m in models] for q in ids]
    have_cost = any(c is not None for r in raw for c in r)
    if have_cost and any(c is None for r in raw for c in r):
        raise DataError(f"{path}: 'cost_usd' is given for some rows but not all; give it everywhere or nowhere")
    if have_cost and pool is not None:
        raise DataError(f"{path}: has cost_usd on every row, and those costs are used; --pool only prices a table "
                        "without cost_usd: drop --pool (or the cost_usd column)")
    meta: dict = {"source": path.name, "path": str(path), "skipped": len(skipped), "skipped_ids": skipped[:20],
                  "skipped_missing": {m: n for m, n in lacking.items() if n}}
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
