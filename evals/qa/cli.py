"""`routeweave eval qa` (run a QA benchmark through a graph; resumable) and `routeweave eval report`.

    routeweave eval qa --dataset hotpotqa --limit 50 --graph router-r1 --run r1-hotpot
    routeweave eval qa --dataset nq,popqa --limit 50 --graph direct --run direct
    routeweave eval report r1-hotpot direct --out docs/       # Markdown + PNG (EM vs cost)

Running the same `--run` again resumes it: examples that already have a row are skipped, rows are
upserted, never duplicated. `--stop-after MIN` stops starting new examples after MIN minutes (exit code
3 while examples remain), so a long run can be done in bounded chunks."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from itertools import zip_longest
from pathlib import Path

from routeweave.serving import aligned, default_db_path, json_text, minute

from .datasets import DATASET_FILES, DATASET_SPLITS

EXIT_INCOMPLETE = 3


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def register(subparsers) -> None:
    qa = subparsers.add_parser(
        "qa", help="run a multi-hop QA benchmark through a graph (resumable, metered)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    qa.add_argument("--dataset", required=True,
                    help=f"dataset name(s), comma-separated ({', '.join([*DATASET_FILES, *DATASET_SPLITS])}), or a .json/.jsonl path")
    qa.add_argument("--limit", type=int, default=None, help="questions per dataset (default: all)")
    qa.add_argument("--seed", type=int, default=0,
                    help="seeded random sample of --limit questions (default 0); -1 = the first --limit rows")
    qa.add_argument("--graph", default="router-r1", help="router-r1 (default), single-shot, cascade or direct")
    qa.add_argument("--policy", default=None, help="for single-shot/cascade: a policy name (a learned one once `routeweave "
                                                   "fit` fitted it; a wrong name lists them) or a saved policy directory")
    qa.add_argument("--pool", default=None, help="a shipped pool (embedded, embedded-prompted, remote, vllm) or a pool file (TOML); default: embedded")
    qa.add_argument("--experts", default=None,
                    help="comma-separated experts to enable ('largest' = the priciest LLM expert); default: the pool's")
    qa.add_argument("--budget", type=float, default=None, metavar="USD", help="per-question budget (sets the pool's)")
    qa.add_argument("--max-rounds", type=int, default=None, metavar="N", help="search rounds per question (sets the pool's)")
    qa.add_argument("--run", dest="run_name", metavar="NAME", required=True, help="run name; the same name again resumes the run")
    qa.add_argument("--concurrency", type=int, default=None,
                    help="questions in flight at once (default: 1 for a pool on an embedded llama.cpp server, where two "
                    "questions decoded in one batch change greedy outputs and a run would not repeat, and it is as fast "
                    "on 2 cores; 2 otherwise)")
    qa.add_argument("--timeout", type=float, default=300.0, metavar="S", help="per-question timeout (default 300 s)")
    qa.add_argument("--stop-after", type=float, default=None, metavar="MIN",
                    help="start no new question after MIN minutes; resume later with the same command")
    qa.add_argument("--retry-errors", action="store_true", help="on resume, run again the questions that failed")
    qa.add_argument("--data-dir", type=Path, default=None, help="folder holding nq/, hotpotqa/, ... (default ../shared/data)")
    qa.add_argument("--db", "--results-db", dest="db", type=Path, default=None,
                    help="results SQLite file (default: evals.db beside the trace DB)")
    qa.add_argument("--trace-db", type=Path, default=None, help=f"trace/checkpoint DB (default {default_db_path()})")
    qa.add_argument("--json", action="store_true", help="print one JSON object at the end")
    qa.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    qa.set_defaults(run=run_qa)  # --run NAME is stored as run_name

    report = subparsers.add_parser("report", help="Markdown/JSON report and EM-vs-cost plot of stored QA runs")
    report.add_argument("runs", nargs="*", metavar="RUN", help="run names (none: list the stored runs)")
    report.add_argument("--db", "--results-db", dest="db", type=Path, default=None,
                        help="results SQLite file (default: evals.db beside the trace DB)")
    report.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    report.add_argument("--out", type=Path, default=None, help="write REPORT.md and REPORT.png into this folder")
    report.add_argument("--name", default="qa-report", help="file stem for --out (default qa-report)")
    report.add_argument("--title", default="QA evaluation", help="Markdown title")
    report.set_defaults(run=run_report)


def _results_path(args: argparse.Namespace) -> Path:
    from .store import default_results_path

    if args.db:
        return args.db
    if getattr(args, "trace_db", None):
        return Path(args.trace_db).with_name("evals.db")
    return default_results_path()


def run_qa(args: argparse.Namespace) -> int:
    from routeweave.serving import ConfigError, load_pool

    from .datasets import load_dataset
    from .runner import effective_pool, open_eval_graph, run_examples
    from .store import ResultStore, RunConfigError

    run_name = args.run_name
    if (args.concurrency is not None and args.concurrency < 1) or (args.limit is not None and args.limit < 0):
        print("error: --concurrency must be >= 1 and --limit >= 0", file=sys.stderr)
        return 2
    seed = None if args.seed is not None and args.seed < 0 else args.seed
    try:
        experts_arg = _split(args.experts) or None
        pool = effective_pool(load_pool(args.pool), experts=experts_arg, budget_usd=args.budget,
                              max_rounds=args.max_rounds)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    concurrency = args.concurrency or (1 if pool.servers else 2)  # benchmarks/results/qa_throughput.md
    from routeweave.agents.adapters import file_sha256
    from routeweave.graphs import graph_spec
    from routeweave.serving.engine import check_policy_fits

    try:
        check_policy_fits(args.graph, args.policy, pool)  # an unknown graph; a policy it would ignore, unknown or unfitted
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_dataset, problems, names, hashes = [], [], [], {}
    try:
        for name in _split(args.dataset):
            loaded = load_dataset(name, data_dir=args.data_dir, limit=args.limit, seed=seed)
            per_dataset.append(loaded.examples)
            problems += loaded.problems
            names.append(loaded.dataset)
            hashes[loaded.dataset] = file_sha256(Path(loaded.path))[:16]
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Round-robin over the datasets, so a run stopped early (--stop-after, kill) has covered each evenly.
    examples = [ex for group in zip_longest(*per_dataset) for ex in group if ex is not None]
    if problems:
        shown = "".join(f"\n  - {p}" for p in problems[:5]) + (f"\n  - ... and {len(problems) - 5} more" if len(problems) > 5 else "")
        print(f"note: {len(problems)} malformed row(s) skipped while loading:{shown}", file=sys.stderr)
    if not examples:
        why = "every row was malformed (listed above)" if problems else "empty dataset or --limit 0"
        print(f"error: no questions to run ({why})", file=sys.stderr)
        return 2
    config = {
        "datasets": names, "limit": args.limit, "seed": seed, "graph": args.graph, "policy": args.policy,
        "pool": Path(args.pool).name if args.pool else "embedded (default)", "pool_hash": pool.fingerprint(),
        "experts": [e.name for e in pool.enabled], "experts_arg": experts_arg,
        "budget_usd": args.budget, "max_rounds": args.max_rounds,
        # the files' contents (a same-named file elsewhere is another dataset) and the graph's prompt version
        "dataset_sha256": hashes, "graph_version": graph_spec(args.graph).version and graph_spec(args.graph).version(),
    }
    store = ResultStore(_results_path(args))
    try:
        try:
            resumed = store.open_run(run_name, config, total=len(examples))
        except RunConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        done_before = len(store.done_keys(run_name, include_errors=not args.retry_errors))
        todo = len(examples) - done_before
        verb = "resuming" if resumed else "starting"
        print(f"{verb} run '{run_name}': {len(examples)} question(s) from {', '.join(names)}, "
              f"{done_before} already done, {todo} to run · graph {args.graph}"
              f"{' policy ' + args.policy if args.policy else ''} · experts {', '.join(config['experts'])} · "
              f"concurrency {concurrency} · results {store.path}", file=sys.stderr)
        outcome = None
        if todo > 0:
            deadline = time.monotonic() + args.stop_after * 60 if args.stop_after else None
            try:
                graph = open_eval_graph(pool, args.graph, args.policy, db_path=args.trace_db)
            except ConfigError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            with graph:
                trace_db = str(getattr(graph, "db_path", None) or args.trace_db or default_db_path())
                outcome = asyncio.run(run_examples(
                    graph, examples, store=store, run=run_name, concurrency=concurrency,
                    timeout_s=args.timeout, deadline=deadline, retry_errors=args.retry_errors,
                    trace_db=trace_db, progress=not args.no_progress, label=run_name,
                ))
        return _finish(args, store, run_name, examples, outcome)
    finally:
        store.close()


def _finish(args, store, run_name, examples, outcome) -> int:
    from .metrics import Summary

    keys = {(ex.dataset, ex.id) for ex in examples}
    rows = [r for r in store.rows(run_name) if (r["dataset"], r["example_id"]) in keys]
    summary = Summary.from_rows(rows)
    remaining = len(examples) - len(rows)
    if args.json:
        print(json_text({
            "run": run_name, "results_db": str(store.path), "total": len(examples), "done": len(rows),
            "remaining": remaining, "ran": outcome.ran if outcome else 0, "errors_this_time": outcome.errors if outcome else 0,
            "elapsed_s": round(outcome.elapsed_s, 3) if outcome else 0.0, "summary": summary.model_dump(),
        }))
    else:
        if outcome:
            rate = outcome.ran / outcome.elapsed_s * 60 if outcome.elapsed_s else 0.0
            print(f"ran {outcome.ran} question(s) in {outcome.elapsed_s:.1f}s ({rate:.1f}/min), "
                  f"{outcome.errors} error(s)")
        print(summary.markdown())
    if summary.overall.retried_usd_total:
        print(f"note: failed attempts re-run by --retry-errors spent ${summary.overall.retried_usd_total:.6f} more, "
              "not counted in the cost columns (which are the kept sessions')", file=sys.stderr)
    if summary.overall.truncated:
        print(f"note: {summary.overall.truncated} answer(s) were cut at their call's token limit (column `truncated`); "
              "a larger max_tokens for the answering model may score higher", file=sys.stderr)
    if remaining:
        print(f"run '{run_name}' is incomplete: {remaining} question(s) left; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def run_report(args: argparse.Namespace) -> int:
    from .report import build, to_json, to_markdown, to_png
    from .store import ResultStore

    path = _results_path(args)
    if not path.exists():
        print(f"error: no results database at {path} (run `routeweave eval qa` first, or pass --db)", file=sys.stderr)
        return 1
    with ResultStore(path) as store:
        if not args.runs:
            return list_runs(store, path, as_json=args.json)
        try:
            report = build(store, args.runs)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 1
    markdown = to_markdown(report, title=args.title)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        png = to_png(report, args.out / f"{args.name}.png")
        md = markdown
        if png is not None:
            f1_png = to_png(report, args.out / f"{args.name}_f1.png", metric="f1")
            md += f"\n![EM vs cost]({png.name})\n\n![F1 vs cost]({f1_png.name})\n"
        (args.out / f"{args.name}.md").write_text(md, encoding="utf-8")
        (args.out / f"{args.name}.json").write_text(json_text(to_json(report), indent=1), encoding="utf-8")
        print(f"wrote {args.out / (args.name + '.md')}" + (f" and {png}" if png else " (no matplotlib: no PNG)"),
              file=sys.stderr)
    print(json_text(to_json(report)) if args.json else markdown)
    return 0


def _sample(config: dict) -> str:
    if not config.get("limit"):
        return ""
    seed = config.get("seed")
    return f" (limit {config['limit']}" + (f", seed {seed})" if seed is not None and seed >= 0 else ", the first)")


def list_runs(store, path: Path, *, as_json: bool) -> int:
    """The stored runs, oldest first: how far each got and what it ran (a run's config is what a resume checks)."""
    runs = [{"run": r["run"], "done": store.count(r["run"]), "total": r["total"], "created": r["created"],
             "config": r["config"]} for r in store.runs()]
    if as_json:
        print(json_text(runs, indent=1))
        return 0
    if not runs:
        print(f"no runs in {path} yet")
        return 0
    lines = [("run", "done", "created", "graph", "pool", "datasets")]
    for r in runs:
        c = r["config"]
        graph = c.get("graph", "?") + (f" ({c['policy']})" if c.get("policy") else "")
        lines.append((r["run"], f"{r['done']}/{r['total']}", minute(r.get("created")), graph, str(c.get("pool", "?")),
                      ",".join(c.get("datasets") or []) + _sample(c)))
    print(aligned(lines))
    print(f"scores: routeweave eval report RUN [RUN ...] --results-db {path}", file=sys.stderr)
    return 0
