"""`routeweave gc`: prune the checkpoints of finished sessions (serving/retention.py says what is kept)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..serving import ConfigError, default_db_path, parse_duration, prune


def register(sub) -> None:
    gc = sub.add_parser("gc", help="prune the checkpoints of finished sessions (traces and eval results are kept)",
                        description="Deletes the LangGraph checkpoints of sessions that finished more than --older-than "
                                    "ago. Unfinished sessions stay resumable; traces are kept unless --traces; eval "
                                    "results are never touched.")
    gc.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30m, 12h, 7d (0: every finished session)")
    gc.add_argument("--db", "--trace-db", dest="db", type=Path, help=f"trace database; checkpoints beside it (default {default_db_path()})")
    gc.add_argument("--checkpointer-url", help="a Postgres checkpointer (default: $ROUTEWEAVE_CHECKPOINTER_URL, else SQLite)")
    gc.add_argument("--traces", action="store_true", help="also delete those sessions' trace rows")
    gc.add_argument("--vacuum", action="store_true", help="then shrink the SQLite files (rewrites them: best when idle)")
    gc.add_argument("--json", action="store_true",
                    help='print {"sessions", "checkpoints_pruned", "traces_deleted"}: the finished sessions old enough, '
                         "those whose checkpoints were deleted now, those whose traces were")
    gc.set_defaults(run=run_gc)


def run_gc(args: argparse.Namespace) -> int:
    from ..serving.checkpointers import checkpointer_url  # noqa: PLC0415

    try:
        older = parse_duration(args.older_than)
        url = checkpointer_url(args.checkpointer_url)
        done = asyncio.run(prune(args.db or default_db_path(), older, checkpointer_url=url, traces=args.traces,
                                 vacuum=args.vacuum))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(done))
        return 0
    print(f"{done['sessions']} finished session(s) older than {args.older_than}: deleted the checkpoints of "
          f"{done['checkpoints_pruned']}" + (" (the others had none left)" if done["checkpoints_pruned"] < done["sessions"] else "")
          + (f", and the traces of {done['traces_deleted']}" if args.traces else "; traces kept (--traces deletes them)")
          + ("; files vacuumed" if args.vacuum else ""))
    return 0
