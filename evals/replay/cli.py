"""`routeweave replay`: recorded sessions and `eval qa` runs at another pool's prices, offline and free.

    routeweave replay smol wiki --pool remote                  # what these runs would have cost on `remote`
    routeweave replay smol wiki --pool remote --policy knn     # ... and what knn would have chosen and scored
    routeweave replay 937ca603392545e1a9d9b12d4268083b --pool ./my-pool.toml --json

Each id is an `eval qa` run (every row of it) or a stored session id. Every step is re-priced at the price
of the model that answered it (`answered_by`, fallbacks included; router tokens included), so the same
pool reproduces the recorded cost exactly. A step whose model the pool lacks is reported unknown (count
and names), never priced at zero. With --policy, a query-level policy re-decides every recorded question
on the pool and is scored from the recorded outcomes (single-shot runs of the chosen expert); a choice
with no outcome is unknown. An LLM router's path is re-priced, not re-decided (its prompt showed the
recorded prices), and sessions the budget shaped are flagged. No model is called; nothing is written but
--markdown FILE."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from routeweave.serving import ConfigError, Pool, default_db_path, json_text, load_pool, shipped_pools


def register(sub) -> None:
    p = sub.add_parser("replay", help="re-price recorded sessions and eval qa runs with another pool's prices, "
                                      "and re-decide them with a policy (offline, free)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="+", metavar="RUN_OR_SESSION_ID", help="eval qa run names and/or session ids")
    p.add_argument("--pool", required=True, help="a shipped pool or a pool file (TOML): the prices to replay at")
    p.add_argument("--policy", metavar="NAME_OR_DIR",
                   help="re-decide the recorded questions with this policy (a name fitted for the pool, or a saved directory)")
    p.add_argument("--metric", choices=("f1", "em"), default="f1", help="the recorded score used as quality (default: %(default)s)")
    p.add_argument("--db", "--trace-db", dest="db", type=Path, help=f"trace database of the sessions (default {default_db_path()}); "
                                           "a run's rows name their own")
    p.add_argument("--results-db", type=Path, help="eval qa results (default: evals.db beside the trace database)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="also write the Markdown table to FILE")
    p.set_defaults(run=run_replay)


def replay(ids: list[str], pool_spec: str | Path | Pool, *, policy: str | None = None, metric: str = "f1",
           trace_db: Path | None = None, results_db: Path | None = None) -> dict:
    """The replay as one dict (see report.build); ConfigError (ReplayError) says what to fix. `pool_spec`:
    a shipped pool name, a pool file or a Pool."""
    from .recorded import load_recorded
    from .redecide import load_policy_for, redecide
    from .report import build
    from .reprice import reprice

    pool = pool_spec if isinstance(pool_spec, Pool) else load_pool(pool_spec)
    chosen = load_policy_for(pool, policy) if policy else None  # refused before anything is read
    recorded = load_recorded(ids, trace_db=trace_db, results_db=results_db, metric=metric)
    replayed = [reprice(r, pool) for r in recorded]
    decided = redecide(replayed, pool, chosen) if chosen is not None else None
    shipped = isinstance(pool_spec, str) and pool_spec in shipped_pools()
    label = f"the shipped pool '{pool_spec}'" if shipped else str(pool.source or "the given pool")
    return build(replayed, pool=label, policy=decided)


def run_replay(args: argparse.Namespace) -> int:
    from .report import to_markdown

    try:
        report = replay(args.ids, args.pool, policy=args.policy, metric=args.metric, trace_db=args.db,
                        results_db=args.results_db)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    markdown = to_markdown(report, ids=args.ids, policy=args.policy)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown, encoding="utf-8")
    print(json_text(report, indent=1) if args.json else markdown)
    return 0
