"""`routeweave eval qa` (run a QA benchmark through a graph; resumable) and `routeweave eval report`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from itertools import zip_longest
from pathlib import Path

from routeweave.serving import default_db_path, json_text

from .datasets import DATASET_FILES, DATASET_SPLITS

EXIT_INCOMPLETE = 3
QA_DESCRIPTION = """Run QA questions through a graph, scoring and storing each one as it finishes.

    routeweave eval qa --dataset hotpotqa --limit 50 --graph router-r1 --run r1-hotpot
    routeweave eval qa --dataset nq,popqa --limit 50 --graph direct --run direct
    routeweave eval qa --dataset my_questions.jsonl --graph direct --run mine

Running the same `--run` again resumes it: questions that already have a row are skipped, rows are
upserted, never duplicated (after Ctrl-C too). `--stop-after MIN` stops starting new questions after MIN
minutes (exit code 3 while questions remain), so a long run can be done in bounded chunks. Malformed rows
of a dataset file are skipped and counted (`--strict` refuses them). Scores: `routeweave eval report RUN`."""
REPORT_DESCRIPTION = """Report stored QA runs: Markdown (or --json) per dataset beside Router-R1's published figures.

    routeweave eval report                                  # list the stored runs
    routeweave eval report r1-hotpot direct --out docs/     # also write qa-report.{md,json,png}, qa-report_f1.png
    routeweave eval report r1-hotpot --questions r1.jsonl   # also one row per question (.jsonl or .csv)"""


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _number(unit: str, *, zero_ok: bool, hint: str):
    """An argparse type: a number of `unit`, more than 0 (or 0 too with `zero_ok`)."""
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of {unit}") from None
        if not (number >= 0 if zero_ok else number > 0):
            raise argparse.ArgumentTypeError(f"must be {'0 or more' if zero_ok else 'more than 0'} {unit}, got {value}; {hint}")
        return number
    return parse


def register(subparsers) -> None:
    qa = subparsers.add_parser(
        "qa", help="run a multi-hop QA benchmark through a graph (resumable, metered)",
        description=QA_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    qa.add_argument("--dataset", required=True,
                    help=f"dataset name(s), comma-separated ({', '.join([*DATASET_FILES, *DATASET_SPLITS])}), or the path of "
                    "your own JSON Lines / JSON array file (labelled by its file name; docs/qa-results.md)")
    qa.add_argument("--limit", type=int, default=None, help="questions per dataset (default: all)")
    qa.add_argument("--seed", type=int, default=0,
                    help="seeded random sample of --limit questions (default 0); -1 = the first --limit rows")
    qa.add_argument("--graph", default="router-r1", help="router-r1 (default), single-shot, cascade or direct")
    qa.add_argument("--policy", default=None, help="for single-shot/cascade: a policy name (a learned one once `routeweave "
                                                   "fit` fitted it; a wrong name lists them) or a saved policy directory")
    qa.add_argument("--pool", default=None,
                    help="a shipped pool (embedded, embedded-prompted, remote, vllm) or a pool file (TOML); default: embedded")
    qa.add_argument("--experts", default=None,
                    help="comma-separated experts to enable ('largest' = the priciest LLM expert); default: the pool's")
    qa.add_argument("--budget", type=float, default=None, metavar="USD", help="per-question budget (sets the pool's)")
    qa.add_argument("--max-rounds", type=int, default=None, metavar="N", help="search rounds per question (sets the pool's)")
    qa.add_argument("--run", dest="run_name", metavar="NAME", required=True, help="run name; the same name again resumes the run")
    qa.add_argument("--concurrency", type=int, default=None,
                    help="questions in flight at once (default: 1 for a pool on an embedded llama.cpp server, where two "
                    "questions decoded in one batch change greedy outputs and a run would not repeat, and it is as fast "
                    "on 2 cores; 2 otherwise)")
    qa.add_argument("--timeout", type=_number("seconds", zero_ok=True, hint="0 = no timeout"), default=300.0,
                    metavar="S", help="per-question timeout in seconds (default 300; 0 = no timeout)")
    qa.add_argument("--stop-after", type=_number("minutes", zero_ok=False, hint="leave --stop-after out to run them all"),
                    default=None, metavar="MIN", help="start no new question after MIN minutes (> 0); exit 3 while "
                    "questions remain; resume later with the same command")
    qa.add_argument("--strict", action="store_true",
                    help="refuse a dataset file with any malformed row (all listed, exit 2) instead of skipping them")
    qa.add_argument("--retry-errors", action="store_true", help="on resume, run again the questions that failed")
    qa.add_argument("--data-dir", type=Path, default=None, help="folder holding nq/, hotpotqa/, ... (default ../shared/data)")
    qa.add_argument("--db", "--results-db", dest="db", type=Path, default=None,
                    help="results SQLite file (default: evals.db beside the trace DB)")
    qa.add_argument("--trace-db", type=Path, default=None, help=f"trace/checkpoint DB (default {default_db_path()})")
    qa.add_argument("--json", action="store_true", help="print one JSON object at the end")
    qa.add_argument("--no-progress", action="store_true", help="no progress bar / progress lines")
    qa.set_defaults(run=run_qa)  # --run NAME is stored as run_name

    report = subparsers.add_parser("report", help="Markdown/JSON report and EM-vs-cost plot of stored QA runs",
                                   description=REPORT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("runs", nargs="*", metavar="RUN", help="run names (none: list the stored runs)")
    report.add_argument("--db", "--results-db", dest="db", type=Path, default=None,
                        help="results SQLite file (default: evals.db beside the trace DB)")
    report.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    report.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="also write NAME.md, NAME.json, NAME.png (EM vs cost) and NAME_f1.png into DIR (NAME: --name)")
    report.add_argument("--questions", type=Path, default=None, metavar="FILE",
                        help="also write one row per question of the runs to FILE: .jsonl or .csv by its suffix")
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

    from .catalog import resolve_datasets
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
    per_dataset, problems, names, hashes, skipped = [], [], [], {}, {}
    stored = None  # the dataset labels of the run being resumed, if any (a file may be stored under its stem)
    if _results_path(args).exists():
        with ResultStore(_results_path(args)) as existing:
            stored = (existing.run_config(run_name) or {}).get("datasets")
    try:
        specs = resolve_datasets(_split(args.dataset), args.data_dir, stored=stored)  # refuses two of one label
        for name, (label, path) in zip(_split(args.dataset), specs):
            loaded = load_dataset(name, data_dir=args.data_dir, limit=args.limit, seed=seed, label=label)
            per_dataset.append(loaded.examples)
            problems += loaded.problems
            names.append(label)
            hashes[label] = file_sha256(path)[:16]
            skipped[label] = len(loaded.problems)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Round-robin over the datasets, so a run stopped early (--stop-after, kill) has covered each evenly.
    examples = [ex for group in zip_longest(*per_dataset) for ex in group if ex is not None]
    if problems and args.strict:
        print(f"error: --strict: {len(problems)} malformed row(s), nothing was run:" + "".join(f"\n  - {p}" for p in problems)
              + "\nFix or delete these rows, or drop --strict to skip them (a run counts the rows it skipped).",
              file=sys.stderr)
        return 2
    if problems:
        more = f"\n  - ... and {len(problems) - 5} more (--strict lists every one and runs nothing)" if len(problems) > 5 else ""
        print(f"note: {len(problems)} malformed row(s) skipped while loading:"
              + "".join(f"\n  - {p}" for p in problems[:5]) + more, file=sys.stderr)
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
        "skipped_rows": skipped,  # metadata (store.METADATA_KEYS): shown by `eval report`, not compared on resume
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
            try:
                with graph:
                    trace_db = str(getattr(graph, "db_path", None) or args.trace_db or default_db_path())
                    outcome = asyncio.run(run_examples(
                        graph, examples, store=store, run=run_name, concurrency=concurrency,
                        timeout_s=args.timeout, deadline=deadline, retry_errors=args.retry_errors,
                        trace_db=trace_db, progress=not args.no_progress, label=run_name,
                    ))
            except KeyboardInterrupt:
                done = len(store.done_keys(run_name) & {(ex.dataset, ex.id) for ex in examples})
                print(f"interrupted: run '{run_name}' has {done}/{len(examples)} question(s) stored; run the same "
                      "command again to resume (stored questions are not run again)", file=sys.stderr)
                return 130
        return _finish(args, store, run_name, examples, outcome, skipped)
    finally:
        store.close()


def _finish(args, store, run_name, examples, outcome, skipped: dict[str, int]) -> int:
    from .metrics import Summary

    keys = {(ex.dataset, ex.id) for ex in examples}
    rows = [r for r in store.rows(run_name) if (r["dataset"], r["example_id"]) in keys]
    summary = Summary.from_rows(rows)
    remaining = len(examples) - len(rows)
    if args.json:
        print(json_text({
            "run": run_name, "results_db": str(store.path), "total": len(examples), "done": len(rows),
            "remaining": remaining, "ran": outcome.ran if outcome else 0, "errors_this_time": outcome.errors if outcome else 0,
            "elapsed_s": round(outcome.elapsed_s, 3) if outcome else 0.0, "skipped_rows": skipped,
            "summary": summary.model_dump(),
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
    n_skipped = sum(skipped.values())
    left_out = (f"; {n_skipped} malformed row(s) of the dataset file(s) skipped, not in the run "
                f"({', '.join(f'{d}: {n}' for d, n in skipped.items() if n)}; --strict refuses them)" if n_skipped else "")
    if remaining:
        print(f"run '{run_name}' is incomplete: {remaining} question(s) left; run the same command again to resume"
              + left_out, file=sys.stderr)
        return EXIT_INCOMPLETE
    print(f"run '{run_name}' complete: {len(rows)}/{len(examples)} question(s){left_out}", file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from .report import build, list_runs, to_json, to_markdown, to_png
    from .store import QUESTION_SUFFIXES, ResultStore

    if args.questions and args.questions.suffix.lower() not in QUESTION_SUFFIXES:
        print(f"error: --questions {args.questions}: name the file *.jsonl or *.csv (the suffix picks the format)",
              file=sys.stderr)
        return 2
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
        if args.questions:
            n = store.export_questions(args.runs, args.questions)
            print(f"wrote {n} question row(s) to {args.questions}", file=sys.stderr)
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
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
