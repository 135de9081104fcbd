"""`routeweave ask` and `routeweave trace`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..agents.pool import PoolError, load_pool
from ..graphs.paths import default_db_path
from ..graphs.trace_store import TraceStore
from .render import render_result, render_step


def register(sub) -> None:
    ask = sub.add_parser("ask", help="answer a question with the router and its experts")
    ask.add_argument("question")
    ask.add_argument("--pool", type=Path, help="a shipped pool (embedded, embedded-prompted, remote, vllm) or a pool file (TOML); default: embedded")
    ask.add_argument("--graph", default="router-r1", help="router-r1 (default), single-shot, cascade or direct")
    ask.add_argument("--policy", help="for single-shot/cascade: a policy name (knn, mf, threshold, ...) or a saved policy directory")
    ask.add_argument("--budget", type=float, metavar="USD", help="cap on the session's spend (lowers the pool's)")
    ask.add_argument("--max-rounds", type=int, metavar="N", help="most search rounds before the router must answer")
    ask.add_argument("--experts", help="comma-separated experts to enable (default: the pool's enabled ones)")
    ask.add_argument("--db", type=Path, help=f"SQLite file for checkpoints and traces (default {default_db_path()})")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(run=run_ask)

    trace = sub.add_parser("trace", help="print a stored session")
    trace.add_argument("session_id")
    trace.add_argument("--db", type=Path)
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(run=run_trace)


def _pool(args: argparse.Namespace):
    pool = load_pool(args.pool)
    limits = {}
    if args.budget is not None:
        if args.budget <= 0:
            raise PoolError("--budget must be more than 0")
        limits["budget_usd"] = args.budget
    if args.max_rounds is not None:
        if args.max_rounds < 1:
            raise PoolError("--max-rounds must be at least 1")
        limits["max_rounds"] = args.max_rounds
    if limits:
        pool = pool.model_copy(update={"limits": pool.limits.model_copy(update=limits)})
    if args.experts:
        pool = pool.with_enabled([n.strip() for n in args.experts.split(",") if n.strip()])
    return pool


def run_ask(args: argparse.Namespace) -> int:
    from ..graphs.api import open_graph  # heavy imports only when a question is asked

    try:
        pool = _pool(args)
    except PoolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from ..agents.llm import MissingKeyError
    from ..agents.local_server import ServerError

    try:
        graph = open_graph(pool, graph=args.graph, policy=args.policy, db_path=args.db)
    except (MissingKeyError, ServerError, ValueError) as exc:  # configuration the user can fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with graph:
        if args.json:
            print(json.dumps(graph.invoke({"question": args.question}), indent=2))
            return 0
        print(f"Q: {args.question}")
        for event in graph.stream({"question": args.question}):
            if event["type"] == "step":
                print(render_step(event["step"]), flush=True)
            else:
                print(render_result(event, budget_usd=pool.limits.budget_usd))
    return 0


def run_trace(args: argparse.Namespace) -> int:
    session = TraceStore(args.db or default_db_path()).get(args.session_id)
    if session is None:
        print(f"error: no session {args.session_id} in {args.db or default_db_path()}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(session, indent=2))
        return 0
    print(f"Q: {session['question']}")
    for step in session["steps"]:
        print(render_step(step))
    print(render_result({**session, "expert_calls": sum(1 for s in session["steps"] if s["kind"] == "route")}))
    return 0
