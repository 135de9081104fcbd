"""`routeweave ask` and `routeweave trace`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..serving import (ConfigError, SessionCaps, TraceStore, default_db_path, json_text, load_pool, open_graph,
                       shipped_pools)
from ..serving.locks import FileLocks
from ..serving.paths import lock_dir
from .render import render_result, render_step, render_unfinished


def pool_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", help=f"a shipped pool ({', '.join(shipped_pools())}) or a pool file (TOML); "
                                       "default: embedded")


def register(sub) -> None:
    ask = sub.add_parser("ask", help="answer a question with the router and its experts")
    ask.add_argument("question")
    pool_argument(ask)
    ask.add_argument("--graph", default="router-r1", help="router-r1 (default), single-shot, cascade or direct")
    ask.add_argument("--policy", help="for single-shot/cascade: a policy name (a rule such as cheapest at once, a learned "
                                      "one once `routeweave fit` fitted it; a wrong name lists them) or a saved policy directory")
    ask.add_argument("--budget", type=float, metavar="USD", help="cap on the session's spend (lowers the pool's)")
    ask.add_argument("--max-rounds", type=int, metavar="N", help="most search rounds before the router must answer")
    ask.add_argument("--experts", help="comma-separated experts this session may use (default: the pool's enabled ones)")
    ask.add_argument("--db", "--trace-db", dest="db", type=Path,
                     help=f"trace database; checkpoints go beside it (default {default_db_path()})")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(run=run_ask)

    trace = sub.add_parser("trace", help="print a stored session")
    trace.add_argument("session_id")
    trace.add_argument("--db", "--trace-db", dest="db", type=Path, help=f"trace database (default {default_db_path()})")
    trace.add_argument("--json", action="store_true", help="print one JSON object")
    trace.set_defaults(run=run_trace)


EXIT_FAILED = 1  # the session ended `failed`: a call it could not do without (the router's, the one expert's) failed


def run_ask(args: argparse.Namespace) -> int:
    try:
        if not args.question.strip():
            raise ValueError("the question is empty: routeweave ask \"Who wrote Hamlet?\"")
        experts = [n.strip() for n in args.experts.split(",") if n.strip()] if args.experts else None
        caps = SessionCaps.parse({"budget_usd": args.budget, "max_rounds": args.max_rounds, "experts": experts})
        pool = load_pool(args.pool)
        caps.constraints(pool)  # unknown experts fail here, before a server starts
        for option, applied in caps.capped(pool).items():  # lowered to the pool's cap, never raised: said, not silent
            flag = {"budget_usd": "--budget", "max_rounds": "--max-rounds"}.get(option, option)
            print(f"warning: {flag} {getattr(caps, option)} is above the pool's cap; the session runs with {applied}",
                  file=sys.stderr)
        graph = open_graph(pool, graph=args.graph, policy=args.policy, db_path=args.db)
    except (ConfigError, ValueError) as exc:  # configuration the user can fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inputs = {"question": args.question, **caps.model_dump(exclude_none=True)}
    with graph:
        if args.json:
            result = graph.invoke(inputs)
            print(json_text(result, indent=2))
        else:
            print(f"Q: {args.question}")
            for event in graph.stream(inputs):
                if event["type"] == "step":
                    print(render_step(event["step"]), flush=True)
                else:
                    result = event
                    print(render_result(event, budget_usd=caps.budget(pool)))
    return EXIT_FAILED if result["stop_reason"] == "failed" else 0  # a model server down: said to scripts too


def run_trace(args: argparse.Namespace) -> int:
    db = args.db or default_db_path()
    session = TraceStore(db).get(args.session_id)
    if session is None:
        print(f"error: no session {args.session_id} in {db}", file=sys.stderr)
        return 1
    session["status"] = session_status(session, FileLocks(lock_dir(Path(db))))
    return print_session(session, as_json=args.json)


def session_status(row: dict, locks: FileLocks) -> str:
    """"finished", "running (pid N)" (its lock is held) or "interrupted: resumable"."""
    if row.get("finished"):
        return "finished"
    holder = locks.holder(row["session_id"])
    return f"running ({holder})" if holder else "interrupted: resumable"


def print_session(session: dict, *, as_json: bool) -> int:
    """A stored or just-finished session: as JSON, or the question, its steps and the result (or, for a session
    still running or interrupted, what it has spent so far)."""
    if as_json:
        print(json_text(session, indent=2))
        return 0
    print(f"Q: {session['question']}")
    for step in session["steps"]:
        print(render_step(step))
    status = session.get("status", "finished")
    budget = (session.get("meta") or {}).get("budget_usd")  # the cap it ran under (sessions stored since 2026-11-29)
    print(render_result(session, budget_usd=budget) if status == "finished" else render_unfinished(session, status))
    return 0
