"""`routeweave eval routing`: fit policies on a training split of an outcome table, sweep their knobs on
the held-out split, and report AUC / APGR / CPT (see evals/routing/metrics.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...agents.errors import ConfigError
from .loaders import NAMED, DataError, load_table

DEFAULT_POLICIES = "knn,mf,sw_ranking,threshold,cascade,cluster"  # fast, no extra; the rest with --policies


def _parse_options(items: list[str]) -> dict[str, dict]:
    """--opt knn.k=20 --opt mf.rank=8 -> {"knn": {"k": 20}, "mf": {"rank": 8}} (values parsed as JSON)."""
    out: dict[str, dict] = {}
    for item in items:
        key, eq, value = item.partition("=")
        policy, dot, name = key.partition(".")
        if not (eq and dot and policy.strip() and name.strip()):
            raise ValueError(f"--opt expects POLICY.NAME=VALUE, e.g. knn.k=20, got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(policy, {})[name] = parsed
    return out


def other_policies(chosen: list[str]) -> list[str]:
    """The registered policies a run of ``chosen`` leaves out that --policies can add: every one (learned or
    rule-based) but the chosen, the baselines (always run) and the evaluation-only ones."""
    from routeweave.policies import policy_names

    from .sweep import BASELINES

    return [n for n in policy_names(include_eval_only=False) if n not in chosen and n not in BASELINES]


def run(args: argparse.Namespace) -> int:
    from routeweave.policies import policy_names
    from routeweave.policies.minilm import ExtraMissing

    from .calibration import reliability_png
    from .report import compact, to_markdown, to_png, to_sqlite
    from .sweep import BASELINES, evaluate

    names = [p.strip() for p in (args.policies or DEFAULT_POLICIES).split(",") if p.strip()]
    if args.policies is None:
        print(f"policies: {', '.join(names)} (the default set); also: {', '.join(other_policies(names))}, with --policies "
              "(docs/routing-results.md gives the commands of its tables)", file=sys.stderr)
    unknown = [p for p in names if p not in policy_names()]
    if unknown:
        print(f"unknown policy: {', '.join(unknown)}; known: {', '.join(policy_names())}", file=sys.stderr)
        return 2
    try:
        options = _parse_options(args.opt)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stray = sorted(set(options) - set(names) - set(BASELINES))
    if stray:
        print(f"error: --opt names {', '.join(stray)}, not among --policies ({', '.join(names)}); "
              f"add it there or drop the option", file=sys.stderr)
        return 2
    try:
        table = load_table(args.data, data_dir=args.data_dir, pool=args.pool)
    except (DataError, ConfigError) as exc:  # ConfigError: a --pool that cannot be loaded (it says why)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = evaluate(table, names, seed=args.seed, test_frac=args.test_frac, folds=args.folds,
                          options=options)
    except (ValueError, ConfigError, ExtraMissing) as exc:  # DataError, a policy that cannot fit this table or
        # whose extra is not installed (each says why)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{table.name}.json").write_text(json.dumps(compact(result, with_points=True), indent=1), encoding="utf-8")
        (out / f"{table.name}.md").write_text(to_markdown(result), encoding="utf-8")
        png = to_png(result, out / f"{table.name}.png")
        if png is None:
            print("note: matplotlib is not installed; no PNG written", file=sys.stderr)
        reliability_png(result, out / f"{table.name}_reliability.png")
    if args.db or args.out:
        to_sqlite(result, args.db or Path(args.out) / "routing.sqlite")
    if args.json:
        print(json.dumps(compact(result)))
    else:
        print(to_markdown(result))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("routing", help="offline routing evaluation on per-query outcome data",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help=f"dataset name ({', '.join(NAMED)}) or your own outcome table: .csv or .jsonl "
                   "(optionally .gz), one row per query and model, columns query_id, query, model, quality[, cost_usd, "
                   "response] (docs/routing-results.md, 'Your own outcome table')")
    p.add_argument("--policies", default=None,
                   help=f"comma-separated policy names (default: {DEFAULT_POLICIES}; random, best_single and oracle "
                   "are always added)")
    p.add_argument("--data-dir", default=None, help="folder of the named datasets (default ../shared/data from the "
                   "repo root, or $ROUTEWEAVE_DATA_DIR)")
    p.add_argument("--pool", default=None, help="pool TOML that prices your own table when it has no cost_usd (each model "
                   "= the pool's expert of that name); refused with a table that has cost_usd or a named dataset")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split or the folds (default %(default)s)")
    p.add_argument("--test-frac", type=float, default=0.3, help="share of the queries held out (default %(default)s)")
    p.add_argument("--folds", type=int, default=0, help="k-fold cross-validation instead of one held-out split")
    p.add_argument("--opt", action="append", default=[], metavar="POLICY.NAME=VALUE", help="policy option, repeatable")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--out", default=None, help="folder for <dataset>.json/.md/.png and routing.sqlite")
    p.add_argument("--db", "--results-db", dest="db", default=None,
                   help="SQLite file for result rows (default <out>/routing.sqlite)")
    p.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routeweave eval")
    register(parser.add_subparsers(dest="eval_command"))
    args = parser.parse_args(["routing", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
