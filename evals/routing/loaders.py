"""Outcome-table loaders: the named datasets under ``../shared/data`` and one generic long format.

Named data (read in place; ``--data-dir`` or ``ROUTEWEAVE_DATA_DIR`` overrides the location):
  gsm8k, mmlu, mt_bench      RouteLLM cached evals, GPT-4-1106-preview vs Mixtral-8x7B (contaminated
                             prompts removed, as RouteLLM does)
  llmrouter                  LLMRouter 500 queries x 9 NVIDIA-NIM models, prices from default_llm.json
  routerdc, routerdc_gsm8k, routerdc_arc, routerdc_humaneval, routerdc_math
                             RouterDC 7 open ~7B models (no prices: all priced alike)
Generic format (any user can produce it; generic.py): long-form CSV or JSONL, one row per (query, model):
  query_id, query, model, quality[, cost_usd, response]
Missing cost_usd is priced from a pool file (price x estimated tokens) or else 1 unit per call. Queries
that lack some model are skipped and counted in ``meta['skipped']`` (eval routing warns of them); malformed
rows raise ``DataError`` naming the file and line."""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from routeweave.policies.outcomes import OutcomeTable

GPT4, MIXTRAL = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
# Nominal list prices, USD per 1M tokens (input, output). RouteLLM itself measures cost as the share of
# GPT-4 calls; with a constant token count per call the normalised cost axis equals that share exactly.
ROUTELLM_PRICES = {GPT4: (10.0, 30.0), MIXTRAL: (0.6, 0.6)}
NOMINAL_PROMPT_TOKENS, NOMINAL_COMPLETION_TOKENS = 300, 300
ROUTERDC_PRICE = (0.2, 0.2)  # every RouterDC model is a ~7B open model: one price for all


class DataError(ValueError):
    """A data file that cannot be used; the message names the file and line."""


def default_data_dir() -> Path:
    env = os.environ.get("ROUTEWEAVE_DATA_DIR")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data"


def _call_cost(price: tuple[float, float], prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


def _est_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _bool(value: str, where: str) -> float:
    v = value.strip().lower()
    if v in ("true", "1", "1.0"):
        return 1.0
    if v in ("false", "0", "0.0"):
        return 0.0
    raise DataError(f"{where}: expected True/False, got {value!r}")


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"{path}: file not found (is --data-dir / ROUTEWEAVE_DATA_DIR right?)")
    return path


def json_lines(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL text; a bad line names file and line."""
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object per line")
        yield lineno, row


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open(_need(path), encoding="utf-8") as f:
        yield from json_lines(path, f.read())


def _contaminated(path: Path) -> set[str]:
    return {row["eval_prompt"].strip() for _, row in _jsonl(path)}


def _routellm_table(name: str, ids: list[str], texts: list[str], q: list[list[float]], removed: int, src: Path,
                    responses: dict[str, list[str | None]] | None = None) -> OutcomeTable:
    models = [GPT4, MIXTRAL]
    cost_row = [_call_cost(ROUTELLM_PRICES[m], NOMINAL_PROMPT_TOKENS, NOMINAL_COMPLETION_TOKENS) for m in models]
    return OutcomeTable(name, ids, texts, models, np.array(q), np.tile(cost_row, (len(ids), 1)),
                        meta={"source": str(src.name), "contaminated_removed": removed, "strong": GPT4, "weak": MIXTRAL,
                              "cost_note": "nominal per-call price, constant per model: normalised cost = GPT-4 call share"},
                        responses=responses or {})


def _routellm_csv(name: str, data: Path, file: str, contaminated: str) -> OutcomeTable:
    path = _need(data / "routellm_evals" / file)
    bad = _contaminated(data / "routellm_evals" / contaminated)
    ids, texts, q, removed = [], [], [], 0
    opener = gzip.open if file.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"prompt", GPT4, MIXTRAL} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}:1: missing column(s) {sorted(missing)}")
        answered = [m for m in (GPT4, MIXTRAL) if f"{m}_response" in (reader.fieldnames or [])]  # GSM8K's file has them
        responses: dict[str, list[str | None]] = {m: [] for m in answered}
        for i, row in enumerate(reader):
            where = f"{path}:{reader.line_num}"
            if row["prompt"].strip() in bad:
                removed += 1
                continue
            ids.append(f"{name}-{i}")
            texts.append(row["prompt"])
            q.append([_bool(row[GPT4], where), _bool(row[MIXTRAL], where)])
            for m in answered:
                responses[m].append(row[f"{m}_response"] or None)
    return _routellm_table(name, ids, texts, q, removed, path, responses)


def load_gsm8k(data: Path) -> OutcomeTable:
    return _routellm_csv("gsm8k", data, "gsm8k_responses.csv", "gsm8k_contaminated_prompts.jsonl")


def load_mmlu(data: Path) -> OutcomeTable:
    return _routellm_csv("mmlu", data, "mmlu_responses_all_subjects.csv.gz", "mmlu_contaminated_prompts.jsonl")


def load_mt_bench(data: Path) -> OutcomeTable:
    """One query per MT-Bench question (routed on turn 1, as RouteLLM does); quality = mean judge score
    of the two turns (1-10)."""
    qpath, jpath = data / "routellm_evals" / "mt_bench_question.jsonl", data / "routellm_evals" / "mt_bench_judgements.jsonl"
    bad = _contaminated(data / "routellm_evals" / "mt_bench_contaminated_prompts.jsonl")
    scores: dict[tuple[int, str], list[float]] = {}
    for lineno, j in _jsonl(jpath):
        try:
            scores.setdefault((int(j["question_id"]), j["model"]), []).append(float(j["score"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{jpath}:{lineno}: bad judgement row ({exc})") from None
    ids, texts, q, removed = [], [], [], 0
    for lineno, row in _jsonl(qpath):
        first = row["turns"][0]
        if first.strip() in bad:
            removed += 1
            continue
        qid = int(row["question_id"])
        pair = [scores.get((qid, m)) for m in (GPT4, MIXTRAL)]
        if any(not p for p in pair):
            raise DataError(f"{qpath}:{lineno}: question {qid} has no judgement for every model")
        ids.append(f"mt_bench-{qid}")
        texts.append(first)
        q.append([float(np.mean(p)) for p in pair])  # type: ignore[arg-type]
    return _routellm_table("mt_bench", ids, texts, q, removed, qpath)


def _score_matrix(name: str, path: Path, prices: Callable[[str], tuple[float, float]], meta: dict) -> OutcomeTable:
    try:
        rows = json.loads(_need(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    models = sorted(rows[0]["scores"])
    ids, texts, q, c = [], [], [], []
    for i, r in enumerate(rows):
        if sorted(r.get("scores", {})) != models or not isinstance(r.get("question"), str):
            raise DataError(f"{path}: record #{i + 1} lacks 'question' or a score for every model {models}")
        ids.append(f"{name}-{i}")
        texts.append(r["question"])
        q.append([float(r["scores"][m]) for m in models])
        toks = _est_tokens(r["question"])
        c.append([_call_cost(prices(m), toks, NOMINAL_COMPLETION_TOKENS) for m in models])
    return OutcomeTable(name, ids, texts, models, np.array(q), np.array(c), meta={"source": path.name, **meta})


def load_llmrouter(data: Path) -> OutcomeTable:
    folder = data / "llmrouter"
    llms = json.loads(_need(folder / "default_llm.json").read_text(encoding="utf-8"))

    def price(m: str) -> tuple[float, float]:
        if m not in llms:
            raise DataError(f"{folder / 'default_llm.json'}: no price for model {m}")
        return float(llms[m]["input_price"]), float(llms[m]["output_price"])

    t = _score_matrix("llmrouter", folder / "dcrouter_preprocessed_test.json", price,
                      {"cost_note": "default_llm.json $/1M x (len(query)/4 prompt + 300 completion tokens, nominal)"})
    task = {row["query"]: row["task_name"] for _, row in _jsonl(folder / "default_query_test.jsonl")}
    t.meta["tasks"] = [task.get(x, "?") for x in t.queries]
    return t


_ROUTERDC_FILES = {"gsm8k": "gsm8k-test.json", "arc": "arc_challenge_test.json",
                   "humaneval": "humaneval_test.json", "math": "MATH_prealgebra.json"}


def load_routerdc(data: Path, parts: tuple[str, ...] = tuple(_ROUTERDC_FILES)) -> OutcomeTable:
    tables = [_score_matrix(f"routerdc_{p}", data / "routerdc_7oss_models" / _ROUTERDC_FILES[p], lambda m: ROUTERDC_PRICE,
                            {"cost_note": "no prices in RouterDC: every model priced alike (cost axis is flat)"})
              for p in parts]
    if len(tables) == 1:
        return tables[0]
    return OutcomeTable("routerdc", sum((t.query_ids for t in tables), []), sum((t.queries for t in tables), []),
                        tables[0].models, np.vstack([t.quality for t in tables]), np.vstack([t.cost for t in tables]),
                        meta={**tables[0].meta, "parts": list(parts)})


NAMED: dict[str, Callable[[Path], OutcomeTable]] = {
    "gsm8k": load_gsm8k,
    "mmlu": load_mmlu,
    "mt_bench": load_mt_bench,
    "llmrouter": load_llmrouter,
    "routerdc": load_routerdc,
    **{f"routerdc_{p}": (lambda data, p=p: load_routerdc(data, (p,))) for p in _ROUTERDC_FILES},
}


def load_table(name_or_path: str, data_dir: str | Path | None = None, pool: str | Path | None = None) -> OutcomeTable:
    if name_or_path in NAMED:
        if pool is not None:
            raise DataError(f"the named dataset {name_or_path} carries its own prices; --pool only prices your own table "
                            "without cost_usd: drop --pool")
        return NAMED[name_or_path](Path(data_dir) if data_dir else default_data_dir())
    path = Path(name_or_path)
    if not path.exists():
        raise DataError(f"'{name_or_path}' is neither a named dataset ({', '.join(NAMED)}) nor an existing file")
    from .generic import load_generic

    return load_generic(path, pool=pool)


def describe(t: OutcomeTable) -> dict[str, Any]:
    return {"name": t.name, "queries": len(t), "models": t.models, "mean_quality": t.mean_quality(), "meta_keys": sorted(t.meta)}
