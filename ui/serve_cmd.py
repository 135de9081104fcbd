"""`routeweave serve` (the OpenAI-compatible HTTP service with the chat UI at /ui) and `routeweave chat`
(the chat UI alone). Both start one Engine over the pool: one embedded server for every model name."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from ..serving import (
    ConfigError,
    Service,
    default_db_path,
    load_pool,
    new_event_loop,
    parse_duration,
    prune_every,
    start_workers,
)
from .ask_cmd import pool_argument


def at_least(low: float, kind: type = int, note: str = ""):
    """An argparse type: a `kind` number >= `low`, else argparse's usage error naming the flag (exit 2)."""
    def parse(raw: str):
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {'whole ' if kind is int else ''}number, got {raw!r}") from None
        if not value >= low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}{note}, got {raw}")
        return value
    return parse


def _common(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=at_least(0, note=" (0 picks a free port)"), default=port,
                        help=f"port (default {port}; 0 picks a free one)")
    pool_argument(parser)
    parser.add_argument("--db", "--trace-db", dest="db", type=Path,
                        help=f"trace database; checkpoints go beside it (default {default_db_path()})")


def register(sub) -> None:
    serve = sub.add_parser("serve", help="OpenAI-compatible HTTP service (POST /v1/chat/completions) plus the chat UI at /ui",
                           description="Bearer auth is on when ROUTEWEAVE_API_KEY is set.")
    _common(serve, 8000)
    serve.add_argument("--no-ui", action="store_true", help="serve the HTTP API only")
    serve.add_argument("--max-body", type=at_least(1), default=256 * 1024, metavar="BYTES", help="largest request body accepted")
    serve.add_argument("--max-sessions", type=at_least(0, note=" (0: no cap)"), default=0, metavar="N",
                       help="sessions in flight before new requests get a 429, per worker (default 0: no cap)")
    serve.add_argument("--workers", type=at_least(1), default=1, metavar="N",
                       help="worker processes on one socket, sharing the model servers and the database (default 1)")
    serve.add_argument("--gc-older-than", metavar="DURATION",
                       help="prune the checkpoints of sessions finished longer ago than this (e.g. 1d), while serving")
    serve.add_argument("--gc-every", type=at_least(1, float), default=600.0, metavar="SECONDS", help="how often to prune (default 600)")
    serve.add_argument("--durability", choices=("sync", "async", "exit"), default="sync",
                       help="when checkpoints are written: sync (default: before each next step, a killed session "
                            "resumes from its last step), async (while the next step runs), exit (only at the end: "
                            "faster, a killed session starts over)")
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # a worker of --workers: the parent's socket
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.set_defaults(run=run_serve)
    chat = sub.add_parser("chat", help="open the chat UI alone (a browser page showing each answer's route)")
    _common(chat, 7860)
    chat.set_defaults(run=run_chat)


def _close_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop, a balancer) ends the process through Python, so the `finally` that closes
    the service runs: uvicorn shuts down on it, then raises it again with the handler that was there before
    its own, which by default ends the process at once, the service never closed."""
    if threading.current_thread() is threading.main_thread():  # (signal handlers can only be set there)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _service(args: argparse.Namespace):
    """The Service, its engine on the loop this process will serve HTTP on (one loop: no thread hop per request)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Service(args.pool, db_path=args.db, loop=loop, durability=args.__dict__.get("durability", "sync")).start()
    except ConfigError as exc:  # configuration the user can fix
        print(f"error: {exc}", file=sys.stderr)
        return None


def _listen(args: argparse.Namespace, what: str) -> socket.socket:
    if args.__dict__.get("listen_fd") is not None:  # a worker: the parent bound it and printed its address
        return socket.socket(fileno=args.listen_fd)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)  # connections wait in the backlog until the server (or a worker) accepts them
    host, port = sock.getsockname()[:2]
    print(f"routeweave {what} on http://{host}:{port}", flush=True)  # tests read the port from this line
    return sock


def _run(app, args: argparse.Namespace, what: str, service: Service) -> None:
    import uvicorn

    sock = _listen(args, what)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
    loop = service.engine.loop.loop  # the engine's loop (not asyncio's current one: importing gradio may replace that)
    if args.__dict__.get("gc_older_than") and args.__dict__.get("worker_index", 0) == 0:
        gc = prune_every(service.engine.db_path, parse_duration(args.gc_older_than), args.gc_every, service.engine.saver,
                         log=lambda m: print(m, file=sys.stderr, flush=True))
        loop.create_task(gc)
    loop.run_until_complete(uvicorn.Server(config).serve(sockets=[sock]))


def _worker_command(args: argparse.Namespace) -> list[str]:
    """This command for each worker of --workers (the socket and index are added by the parent)."""
    argv = [sys.executable, "-m", "routeweave.ui.cli", "serve", "--max-body", str(args.max_body),
            "--max-sessions", str(args.max_sessions), "--gc-every", str(args.gc_every),
            "--durability", args.durability]
    for flag, value in (("--pool", args.pool), ("--db", args.db), ("--gc-older-than", args.gc_older_than)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--no-ui"] if args.no_ui else [])


def run_workers(args: argparse.Namespace) -> int:
    try:
        pool = load_pool(args.pool)
        if args.gc_older_than:
            parse_duration(args.gc_older_than)
        sock = _listen(args, f"serve ({args.workers} workers)")
        return start_workers(pool, sock, _worker_command(args), args.workers,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run_serve(args: argparse.Namespace) -> int:
    if args.workers > 1 and args.listen_fd is None:
        return run_workers(args)
    _close_on_sigterm()
    service = _service(args)
    if service is None:
        return 2
    from .http_app import create_app

    try:
        app = create_app(service, max_body_bytes=args.max_body, ui=not args.no_ui, max_sessions=args.max_sessions)
        _run(app, args, "serve" + ("" if args.no_ui else " (UI at /ui)"), service)
    finally:
        service.close()
    return 0


def run_chat(args: argparse.Namespace) -> int:
    _close_on_sigterm()
    service = _service(args)
    if service is None:
        return 2
    from fastapi import FastAPI

    from .chat_app import mount_ui

    try:
        app = mount_ui(FastAPI(docs_url=None, redoc_url=None, openapi_url=None), service, path="",
                       api_key=os.environ.get("ROUTEWEAVE_API_KEY") or None)
        _run(app, args, "chat", service)
    finally:
        service.close()
    return 0
