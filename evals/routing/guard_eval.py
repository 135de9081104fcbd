"""Accuracy and latency of the guard classifier on a held-out split.

In-domain = queries of the routing / QA datasets; out-of-domain = the team-written seed list
(policies/guard_seeds.py), split per category. Both are split with the same seed; the classifier is
trained on the training halves only."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from routeweave.policies.embed import Embedder, WordLlamaEmbedder
from routeweave.policies.guard import fit_guard
from routeweave.policies.guard_seeds import OOD_SEEDS
from routeweave.policies._common import logreg_proba

from .split import train_test_split


def qa_questions(data_dir: Path, per_file: int = 300) -> list[str]:
    """Questions of the QA sets (first ``per_file`` of each), used as extra in-domain examples."""
    out: list[str] = []
    for rel in ("nq/test_subsample1000.jsonl", "triviaqa/test_subsample1000.jsonl", "popqa/test_subsample1000.jsonl"):
        p = data_dir / rel
        if p.exists():
            lines = [ln for ln in p.read_text(encoding="utf-8").split("\n") if ln.strip()][:per_file]
            out += [json.loads(ln)["question"] for ln in lines]
    p = data_dir / "hotpotqa" / "hotpot_dev_v1_simplified.json"
    if p.exists():
        out += [r["question"] for r in json.loads(p.read_text(encoding="utf-8"))[:per_file]]
    return out


def guard_report(in_domain: Sequence[str], *, seed: int = 0, test_frac: float = 0.3, threshold: float = 0.5,
                 embedder: Embedder | None = None, max_in_domain: int = 3000) -> dict:
    emb = embedder or WordLlamaEmbedder()
    rng = np.random.default_rng(seed)
    texts = list(dict.fromkeys(in_domain))
    if len(texts) > max_in_domain:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), max_in_domain, replace=False))]
    tr, te = train_test_split(len(texts), test_frac, seed)
    ood_tr, ood_te = [], []
    for cat in sorted({c for c, _ in OOD_SEEDS}):
        items = [t for c, t in OOD_SEEDS if c == cat]
        a, b = train_test_split(len(items), test_frac, seed)
        ood_tr += [items[i] for i in a]
        ood_te += [(cat, items[i]) for i in b]
    w = fit_guard(emb.embed([texts[i] for i in tr]), emb.embed(ood_tr))
    p_in = logreg_proba(emb.embed([texts[i] for i in te]).astype(np.float64), w)
    p_out = logreg_proba(emb.embed([t for _, t in ood_te]).astype(np.float64), w)
    flag_in, flag_out = p_in >= threshold, p_out >= threshold
    per_cat = {cat: float(np.mean([f for (c, _), f in zip(ood_te, flag_out) if c == cat])) for cat in sorted({c for c, _ in ood_te})}
    # latency: one fresh query at a time, embedding included (cache-cold: new embedder, unseen texts)
    cold = WordLlamaEmbedder() if embedder is None else embedder
    probe = [f"{texts[i]} ({k})" for k, i in enumerate(te[:300])]
    cold.embed(["warm up the model"])
    lat = []
    for t in probe:
        t0 = time.perf_counter()
        logreg_proba(cold.embed([t]).astype(np.float64), w)
        lat.append(1000 * (time.perf_counter() - t0))
    n_in, n_out = len(p_in), len(p_out)
    return {"seed": seed, "threshold": threshold, "train": {"in_domain": len(tr), "ood": len(ood_tr)},
            "test": {"in_domain": n_in, "ood": n_out},
            "accuracy": float((np.sum(~flag_in) + np.sum(flag_out)) / (n_in + n_out)),
            "balanced_accuracy": float((np.mean(~flag_in) + np.mean(flag_out)) / 2),
            "ood_recall": float(np.mean(flag_out)), "false_refusal_rate": float(np.mean(flag_in)),
            "ood_recall_by_category": per_cat,
            "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p99": float(np.percentile(lat, 99))}
