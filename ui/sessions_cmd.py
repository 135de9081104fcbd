"""`routeweave resume` (finish a session whose process died) and `routeweave sessions` (list them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..serving import ConfigError, TraceStore, aligned, default_db_path, json_text, minute
from ..serving.locks import FileLocks, SessionBusy
from ..serving.paths import lock_dir
from ..serving.resume import resume_session, shared_unfinished
from .ask_cmd import pool_argument, print_session, session_status
from .steps import usd

EXIT_BUSY = 3


def register(sub) -> None:
    resume = sub.add_parser("resume", help="finish a session whose process was killed (completed calls are not made again)")
    resume.add_argument("session_id")
    pool_argument(resume)
    resume.add_argument("--db", "--trace-db", dest="db", type=Path, help=f"trace database (default {default_db_path()})")
    resume.add_argument("--json", action="store_true", help="print one JSON object")
    resume.set_defaults(run=run_resume)
    sessions = sub.add_parser("sessions", help="list stored sessions (--unfinished: the ones that can be resumed)")
    sessions.add_argument("--unfinished", action="store_true", help="only sessions that began and never finished (with "
                          "$ROUTEWEAVE_CHECKPOINTER_URL: every instance's, from the shared checkpoints)")
    sessions.add_argument("--limit", type=positive_int, default=20, help="newest N sessions (default %(default)s)")
    sessions.add_argument("--db", "--trace-db", dest="db", type=Path, help=f"trace database (default {default_db_path()})")
    sessions.add_argument("--json", action="store_true", help="print a JSON list, one object per session")
    sessions.set_defaults(run=run_sessions)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def run_resume(args: argparse.Namespace) -> int:
    db = args.db or default_db_path()
    stored = None
    if Path(db).exists():
        traces = TraceStore(db)
        stored = traces.get(args.session_id)
        traces.close()
    if stored is not None and stored.get("finished"):  # nothing to resume: say so, start no model server
        print(f"session {args.session_id} had already finished (stop: {stored.get('stop_reason')}): nothing to "
              "resume; this is its stored trace", file=sys.stderr)
        return print_session({**stored, "status": "finished"}, as_json=args.json)
    try:
        result = resume_session(args.session_id, db_path=db, pool_spec=args.pool)
    except SessionBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return print_session(result, as_json=args.json)


def run_sessions(args: argparse.Namespace) -> int:
    db = args.db or default_db_path()
    if args.unfinished:
        try:
            shared = shared_unfinished(Path(db), args.limit)  # Postgres: every instance's, not this trace file's
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if shared is not None:
            return _list(shared, args, empty="no unfinished sessions in the shared checkpoints")
    if not Path(db).exists():
        if args.db:  # a path the user typed: more likely a typo than an empty store
            print(f"error: no trace database at {db}", file=sys.stderr)
            return 1
        print("[]" if args.json else f"no sessions stored yet ({db} is created by the first `routeweave ask`)")
        return 0
    traces = TraceStore(db)
    locks = FileLocks(lock_dir(Path(db)))
    rows = traces.unfinished(args.limit) if args.unfinished else traces.recent(args.limit)
    for row in rows:
        row["status"] = session_status(row, locks)
    return _list(rows, args, empty="no unfinished sessions" if args.unfinished else f"no sessions stored in {db} yet")


def _list(rows: list[dict], args: argparse.Namespace, *, empty: str) -> int:
    if args.json:
        print(json_text(rows, indent=1, default=str))
        return 0
    print_table(rows, empty=empty)
    if args.unfinished and any(row["status"] == "interrupted: resumable" for row in rows):
        print("resume one: routeweave resume SESSION_ID", file=sys.stderr)
    return 0


def print_table(rows: list[dict], *, empty: str) -> None:
    """One line a session, newest first: when, which graph, how it ended (its stop reason) or that it can be
    resumed, what it cost, and the question with its answer."""
    if not rows:
        print(empty)
        return
    lines = [("session", "started", "graph", "status", "cost", "rounds", "question → answer")]
    for row in rows:
        ended = (row.get("stop_reason") or "finished") if row.get("finished") else row["status"]
        question = " ".join((row.get("question") or "").split())
        answer = " ".join((row.get("answer") or "").split())
        text = f"{question} → {answer}" if row.get("finished") else question
        cost = usd(row.get("cost_usd")) if row.get("finished") else f"{usd(row.get('spent_usd'))} so far"
        lines.append((row["session_id"], minute(row.get("started")), row.get("graph") or "?", ended, cost,
                      str(row.get("rounds") or 0), text if len(text) <= 90 else text[:89] + "…"))
    print(aligned(lines))
