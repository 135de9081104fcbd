"""`routeweave serve` (the OpenAI-compatible HTTP service with the chat UI at /ui) and `routeweave chat`
(the chat UI alone). Both start one Engine over the pool: one embedded server for every model name."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from ..serving import ConfigError, Service, default_db_path, new_event_loop
from .ask_cmd import pool_argument


def _common(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port}; 0 picks a free one)")
    pool_argument(parser)
    parser.add_argument("--db", type=Path, help=f"trace database; checkpoints go beside it (default {default_db_path()})")


def register(sub) -> None:
    serve = sub.add_parser("serve", help="OpenAI-compatible HTTP service (POST /v1/chat/completions) plus the chat UI at /ui",
                           description="Bearer auth is on when ROUTEWEAVE_API_KEY is set.")
    _common(serve, 8000)
    serve.add_argument("--no-ui", action="store_true", help="serve the HTTP API only")
    serve.add_argument("--max-body", type=int, default=256 * 1024, metavar="BYTES", help="largest request body accepted")
    serve.add_argument("--max-sessions", type=int, default=0, metavar="N",
                       help="sessions in flight before new requests get a 429 (default 0: no cap)")
    serve.set_defaults(run=run_serve)
    chat = sub.add_parser("chat", help="open the chat UI alone (a browser page showing each answer's route)")
    _common(chat, 7860)
    chat.set_defaults(run=run_chat)


def _service(args: argparse.Namespace):
    """The Service, its engine on the loop this process will serve HTTP on (one loop: no thread hop per request)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Service(args.pool, db_path=args.db, loop=loop).start()
    except ConfigError as exc:  # configuration the user can fix
        print(f"error: {exc}", file=sys.stderr)
        return None


def _run(app, args: argparse.Namespace, what: str, service: Service) -> None:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    print(f"routeweave {what} on http://{host}:{port}", flush=True)  # tests read the port from this line
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
    # on the engine's loop (not asyncio's current one: importing gradio may replace that)
    service.engine.loop.loop.run_until_complete(uvicorn.Server(config).serve(sockets=[sock]))


def run_serve(args: argparse.Namespace) -> int:
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
