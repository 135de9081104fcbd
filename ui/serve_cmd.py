"""`routeweave serve` (the OpenAI-compatible HTTP service with the chat UI at /ui) and `routeweave chat`
(the chat UI alone). Both start one Engine over the pool: one embedded server for every model name."""

from __future__ import annotations

import argparse
import asyncio
import logging
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
from ..serving.workers import follow_parent
from .ask_cmd import pool_argument
from .serve_checks import bind, check_args
from .serve_log import FORMATS, configure, say

LOG_FORMAT_ENV = "ROUTEWEAVE_LOG_FORMAT"


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
    parser.add_argument("--graceful-timeout", type=at_least(0, float), default=30.0, metavar="SECONDS",
                        help="on SIGTERM or SIGINT, how long requests in flight may run on before they are cancelled "
                             "(default 30)")
    parser.add_argument("--log-format", choices=FORMATS, default=(os.environ.get(LOG_FORMAT_ENV) or "text").strip().lower(),
                        help=f"stderr as text (default) or one JSON object per line (${LOG_FORMAT_ENV} sets the default)")


def register(sub) -> None:
    serve = sub.add_parser("serve", help="OpenAI-compatible HTTP service (POST /v1/chat/completions) plus the chat UI at /ui",
                           description="Bearer auth is on when ROUTEWEAVE_API_KEY is set.")
    _common(serve, 8000)
    serve.add_argument("--no-ui", action="store_true", help="serve the HTTP API only")
    serve.add_argument("--max-body", type=at_least(1), default=256 * 1024, metavar="BYTES", help="largest request body accepted")
    serve.add_argument("--max-sessions", type=at_least(0, note=" (0: no cap)"), default=0, metavar="N",
                       help="sessions in flight before new requests get a 429, per worker (default 0: no cap)")
    serve.add_argument("--access-log", action="store_true",
                       help="one line per chat completion once its reply has ended: method, path, status, ms, model, session")
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
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # a worker stops when this process ends
    serve.set_defaults(run=run_serve)
    chat = sub.add_parser("chat", help="open the chat UI alone (a browser page showing each answer's route)")
    _common(chat, 7860)
    chat.set_defaults(run=run_chat)


def _close_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop, a balancer) ends the process through Python, so the `finally` that closes
    the service runs: uvicorn shuts down on it, then raises it again with the handler that was there before
    its own, which by default ends the process at once, the service never closed."""
    if threading.current_thread() is not threading.main_thread():  # (signal handlers can only be set there)
        return
    seen = []

    def leave(*_) -> None:
        if not seen:  # once: a second SIGTERM (a worker's parent died: the kernel's and the watcher's) would
            seen.append(1)  # interrupt the closing the first one started
            sys.exit(0)

    signal.signal(signal.SIGTERM, leave)


def _service(args: argparse.Namespace):
    """The Service, its engine on the loop this process will serve HTTP on (one loop: no thread hop per request)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Service(args.pool, db_path=args.db, loop=loop, durability=args.__dict__.get("durability", "sync")).start()
    except ConfigError as exc:  # configuration the user can fix
        say(f"error: {exc}", logging.ERROR)
        return None


def _socket(args: argparse.Namespace) -> socket.socket:
    """The listening socket: a worker's from its parent (which checked the arguments), else checked and bound
    here, before anything slow starts. ConfigError when an argument or the address will not do."""
    if args.__dict__.get("listen_fd") is not None:
        return socket.socket(fileno=args.listen_fd)
    check_args(args)
    return bind(args.host, args.port)


def _announce(sock: socket.socket, what: str, fmt: str) -> None:
    host, port = sock.getsockname()[:2]
    line = f"routeweave {what} on http://{host}:{port}"  # tests read the port from this line
    if fmt == "json":
        say(line)
    else:
        print(line, flush=True)


class _OneLineCancel(logging.Filter):
    """A request still running when the graceful timeout ran out is cancelled: uvicorn logs its CancelledError
    with a ~90-line traceback. One line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg, record.args = "a request was cancelled: still running when --graceful-timeout ran out", ()
            record.exc_info = record.exc_text = None
        return True


def _run(app, args: argparse.Namespace, what: str, service: Service, sock: socket.socket) -> None:
    import uvicorn

    grace = args.graceful_timeout

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            if self.server_state.tasks:
                say(f"stopping: {len(self.server_state.tasks)} request(s) in flight get up to {grace:g} s to finish "
                    f"(--graceful-timeout)")
            await super().shutdown(sockets)

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=grace)
    logging.getLogger("uvicorn.error").addFilter(_OneLineCancel())  # (after Config: it sets uvicorn's logging up)
    configure(args.log_format, access=args.__dict__.get("access_log", False))  # again: uvicorn's handlers, in JSON
    loop = service.engine.loop.loop  # the engine's loop (not asyncio's current one: importing gradio may replace that)
    if args.__dict__.get("gc_older_than") and args.__dict__.get("worker_index", 0) == 0:
        gc = prune_every(service.engine.db_path, parse_duration(args.gc_older_than), args.gc_every, service.engine.saver,
                         log=say)
        loop.create_task(gc)
    if args.__dict__.get("listen_fd") is None:  # (a worker's parent printed the address)
        _announce(sock, what, args.log_format)
    loop.run_until_complete(Server(config).serve(sockets=[sock]))


def _worker_command(args: argparse.Namespace) -> list[str]:
    """This command for each worker of --workers (the socket, index and parent are added by the parent)."""
    argv = [sys.executable, "-m", "routeweave.ui.cli", "serve", "--max-body", str(args.max_body),
            "--max-sessions", str(args.max_sessions), "--gc-every", str(args.gc_every),
            "--durability", args.durability, "--graceful-timeout", str(args.graceful_timeout),
            "--log-format", args.log_format] + (["--access-log"] if args.access_log else [])
    for flag, value in (("--pool", args.pool), ("--db", args.db), ("--gc-older-than", args.gc_older_than)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--no-ui"] if args.no_ui else [])


def run_workers(args: argparse.Namespace) -> int:
    try:
        pool = load_pool(args.pool)
        sock = _socket(args)
        _announce(sock, f"serve ({args.workers} workers)", args.log_format)
        return start_workers(pool, sock, _worker_command(args), args.workers, graceful_s=args.graceful_timeout,
                             log=say)
    except ConfigError as exc:
        say(f"error: {exc}", logging.ERROR)
        return 2


def _logging(args: argparse.Namespace) -> bool:
    """Set serve's log format up first, so that every line after it is in that format; False once a bad one is said."""
    try:
        configure(args.log_format, access=args.__dict__.get("access_log", False))
    except ValueError as exc:  # from $ROUTEWEAVE_LOG_FORMAT (argparse checks only a value given on the command line)
        print(f"error: ${LOG_FORMAT_ENV}: {exc}", file=sys.stderr)
        return False
    return True


def _start(args: argparse.Namespace) -> tuple[socket.socket, Service] | None:
    """The checked socket and the started service, or None once the error is printed."""
    _close_on_sigterm()
    if args.__dict__.get("listen_fd") is not None:  # a worker of --workers: it ends with its parent
        follow_parent(args.parent_pid)
    try:
        sock = _socket(args)
    except ConfigError as exc:
        say(f"error: {exc}", logging.ERROR)
        return None
    service = _service(args)
    if service is None:
        sock.close()
        return None
    return sock, service


def run_serve(args: argparse.Namespace) -> int:
    if not _logging(args):
        return 2
    if args.workers > 1 and args.listen_fd is None:
        return run_workers(args)
    started = _start(args)
    if started is None:
        return 2
    sock, service = started
    from .http_app import create_app

    try:
        app = create_app(service, max_body_bytes=args.max_body, ui=not args.no_ui, max_sessions=args.max_sessions)
        _run(app, args, "serve" + ("" if args.no_ui else " (UI at /ui)"), service, sock)
    finally:
        service.close()
    return 0


def run_chat(args: argparse.Namespace) -> int:
    if not _logging(args):
        return 2
    started = _start(args)
    if started is None:
        return 2
    sock, service = started
    from fastapi import FastAPI

    from .chat_app import mount_ui

    try:
        app = mount_ui(FastAPI(docs_url=None, redoc_url=None, openapi_url=None), service, path="",
                       api_key=os.environ.get("ROUTEWEAVE_API_KEY") or None)
        _run(app, args, "chat", service, sock)
    finally:
        service.close()
    return 0
