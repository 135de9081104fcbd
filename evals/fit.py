"""`routeweave fit`: fit the learned routing policies for a pool from `eval qa` runs of its experts.

    routeweave eval qa --dataset hotpotqa-train --limit 100 --graph single-shot --experts Wiki --run wiki
    routeweave eval qa --dataset hotpotqa-train --limit 100 --graph single-shot --experts SmolLM2 --run smol
    routeweave fit --pool embedded --runs wiki smol          # -> the pool's fitted-policy folder

One run per enabled expert of the pool, on the same questions; questions of `hotpotqa-heldout` (the
router-training test set) are dropped, under whatever name they were run. Their rows become an outcome table
(question x expert -> quality (F1 or EM) and dollars: the generic format `eval routing` reads), every
learned policy is fitted on it and saved where the pool finds it (`routeweave.serving.fitted_dir`), and
`routeweave serve` then serves `routeweave-<policy>` for each."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from routeweave.policies import OutcomeTable, get_policy, policy_class, policy_names
from routeweave.serving import ConfigError, Pool, fitted_dir, json_text, load_pool

from .qa.datasets import heldout_questions
from .qa.metrics import normalize_answer
from .qa.store import ResultStore, default_results_path


def learned_policies() -> list[str]:
    """The learned policies `fit` fits: those whose extra is installed (bert: `bert`; causal_llm:
    `router-features`)."""
    from routeweave.policies.minilm import extra_installed

    return [n for n in policy_names(include_eval_only=False) if policy_class(n).trainable
            and extra_installed(getattr(policy_class(n), "extra", None))]


def needing_extras() -> dict[str, str]:
    """Learned policies `fit` can't fit here -> the extra that would let it."""
    ready = set(learned_policies())
    return {n: policy_class(n).extra for n in policy_names(include_eval_only=False)
            if policy_class(n).trainable and n not in ready}


def _install_hint(missing: dict[str, str]) -> str:
    return "; ".join(f"{n} needs the '{x}' extra (pip install -e \".[{x}]\")" for n, x in missing.items())


def router_gguf(pool: Pool) -> str:
    """The GGUF of the pool's router when a local server runs it (causal_llm's features come from it),
    else the embedded default's."""
    from routeweave.agents.features import DEFAULT_GGUF

    servers = [a.server for a in pool.router.addresses if a.server]
    return str(pool.servers[servers[0]].gguf) if servers else DEFAULT_GGUF


def fit_policy(name: str, table: OutcomeTable, pool: Pool):
    """A fitted policy; those that are handed features get the cached offline source (bert's MiniLM,
    causal_llm's router-model features from the pool's own router GGUF)."""
    from .routing.features import FeatureCache, LlamaFeatures, policy_options, router_llm_layers

    options = {}
    if getattr(policy_class(name), "feature_kind", None) == "router-llm":
        options["features"] = FeatureCache(LlamaFeatures(router_gguf(pool), layers=router_llm_layers()))
    return get_policy(name, **policy_options(name, options)).fit(table)


def outcome_table(store: ResultStore, runs: list[str], pool: Pool, *, metric: str = "f1") -> tuple[OutcomeTable, dict]:
    """The outcome table of one run per enabled expert; ConfigError says what is missing or mixed."""
    by_expert: dict[str, dict] = {}
    for run in runs:
        config = store.run_config(run)
        if config is None:
            raise ConfigError(f"no run named '{run}' in {store.path} (`routeweave eval report` lists them)")
        experts = config.get("experts") or []
        if config.get("graph") != "single-shot" or len(experts) != 1:
            raise ConfigError(f"run '{run}' ran graph {config.get('graph')} with experts {', '.join(experts) or 'none'}: "
                              f"fit needs one run per expert, each `routeweave eval qa --graph single-shot --experts NAME`")
        if experts[0] in by_expert:
            raise ConfigError(f"runs '{by_expert[experts[0]]['run']}' and '{run}' both ran expert {experts[0]}: give one")
        rows = {(r["dataset"], r["example_id"]): r for r in store.rows(run)}
        by_expert[experts[0]] = {"run": run, "rows": rows}
    enabled = [e.name for e in pool.enabled]
    missing = [n for n in enabled if n not in by_expert]
    extra = [n for n in by_expert if n not in enabled]
    if missing or extra:
        raise ConfigError(f"the pool enables {', '.join(enabled)}; the runs cover {', '.join(by_expert) or 'none'}"
                          + (f"; missing: {', '.join(missing)}" if missing else "")
                          + (f"; not in the pool: {', '.join(extra)}" if extra else ""))
    keys = set.intersection(*(set(v["rows"]) for v in by_expert.values()))
    failed = {k for k in keys if any(v["rows"][k]["error"] for v in by_expert.values())}
    # The router-training test set never enters fitting, whichever file or name its questions came under.
    heldout = heldout_questions()
    first = by_expert[enabled[0]]["rows"]
    held = {k for k in keys if heldout and normalize_answer(first[k]["question"]) in heldout}
    keys = sorted(keys - failed - held)
    if len(keys) < 10:
        raise ConfigError(f"the runs share {len(keys)} question(s) without errors; fitting needs at least 10 in common")
    quality = np.array([[by_expert[n]["rows"][k][metric] for n in enabled] for k in keys], dtype=np.float64)
    cost = np.array([[by_expert[n]["rows"][k]["cost_usd"] for n in enabled] for k in keys], dtype=np.float64)
    table = OutcomeTable(f"{pool.source.stem if pool.source else 'pool'}-runs", [f"{d}/{i}" for d, i in keys],
                         [first[k]["question"] for k in keys], enabled, quality, cost,
                         meta={"runs": {n: v["run"] for n, v in by_expert.items()}, "metric": metric},
                         responses={n: [by_expert[n]["rows"][k].get("prediction") for k in keys] for n in enabled})
    return table, {"questions": len(keys), "dropped_for_errors": len(failed), "dropped_heldout": len(held),
                   "heldout_checked": heldout is not None}


def save_atomically(policy, folder: Path) -> Path:
    """Write into a temporary folder beside the target, then swap it in with two renames (the old one moved
    aside first, deleted after): never a half-written policy, and no reader sees the folder gone for longer than
    between two renames (deleting the old one first left it gone while the tree was removed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new.", dir=folder.parent))
    try:
        policy.save(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
        folder.rename(old / folder.name)
    tmp.rename(folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def register(sub) -> None:
    fit = sub.add_parser("fit", help="fit the learned routing policies for a pool from `eval qa` runs of its experts",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("--pool", help="a shipped pool or a pool file (default: embedded)")
    fit.add_argument("--runs", nargs="+", required=True, metavar="RUN", help="one eval qa run per enabled expert")
    fit.add_argument("--policies", help=f"comma-separated (default: every learned one: {', '.join(learned_policies())})")
    fit.add_argument("--metric", choices=("f1", "em"), default="f1", help="quality column of the outcome table (default: %(default)s)")
    fit.add_argument("--db", "--results-db", dest="db", type=Path, help=f"eval results database (default {default_results_path()})")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(run=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    try:
        pool = load_pool(args.pool)
        names = [n.strip() for n in (args.policies or "").split(",") if n.strip()] or learned_policies()
        unknown = [n for n in names if n not in learned_policies()]
        if blocked := {n: x for n, x in needing_extras().items() if n in unknown}:
            raise ConfigError(f"{_install_hint(blocked)}, then fit again")
        if unknown:
            raise ConfigError(f"not a learned policy: {', '.join(unknown)}; learned: {', '.join(learned_policies())}")
        db = args.db or default_results_path()
        if not Path(db).exists():
            raise ConfigError(f"no eval results database at {db}: run `routeweave eval qa` first, or pass --db")
        with ResultStore(db) as store:
            table, info = outcome_table(store, args.runs, pool, metric=args.metric)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = fitted_dir(pool)
    saved = {n: str(save_atomically(fit_policy(n, table, pool), folder / n)) for n in names}
    summary = {"pool": str(pool.source), "folder": str(folder), "policies": sorted(saved), **info,
               "mean_quality": table.mean_quality(), "mean_cost_usd": table.mean_cost(), "metric": args.metric}
    if args.json:
        print(json_text(summary, indent=1))
    else:
        print(f"fitted {len(saved)} policies on {info['questions']} questions ({args.metric}; "
              f"{info['dropped_for_errors']} dropped for errors, {info['dropped_heldout']} held-out questions dropped"
              f"{'' if info['heldout_checked'] else ' (not checked: the HotpotQA sample is not in the data folder)'}) "
              f"into {folder}")
        for expert in table.models:
            print(f"  {expert}: mean {args.metric} {summary['mean_quality'][expert]:.3f}, "
                  f"${summary['mean_cost_usd'][expert]:.6f}/question")
        if not args.policies and (missing := needing_extras()):
            print(f"not fitted: {_install_hint(missing)}")
        print("serve them: routeweave serve" + (f" --pool {args.pool}" if args.pool else ""))
    return 0
