"""What `routeweave serve` writes to stderr: text, as a person reads it (the default), or one JSON object per
line (`--log-format json`) for a log collector: serve's own lines, uvicorn's, and the traceback of a request
that failed (as `exc`). `--access-log` adds one line per chat completion when its reply has ended:

    text:  POST /v1/chat/completions 200 812 ms model=routeweave-r1 session=2c9e...
    json:  {"ts": 1764412345.123, "level": "info", "logger": "routeweave.access", "pid": 4242, "message": "POST ... 200",
            "method": "POST", "path": "/v1/chat/completions", "status": 200, "duration_ms": 812.4,
            "model": "routeweave-r1", "session_id": "2c9e..."}

`ts` is Unix time in seconds; `pid` tells `--workers`' processes apart. The status is the one the request metrics
count (499: the client left first, the line written then, while its session runs on; 503: cut at
--graceful-timeout); `model` is the name the request asked for, known or not."""

from __future__ import annotations

import json
import logging
import sys
import time

SERVE, ACCESS = "routeweave.serve", "routeweave.access"
FORMATS = ("text", "json")
LITELLM = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")  # LiteLLM's loggers, each with a handler of its own


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().strip()
        if record.name == "py.warnings":  # ui/cli.py formats warnings as "warning: ..." lines
            message = message.removeprefix("warning: ")
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "pid": record.process, "message": message, **getattr(record, "fields", {})}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(fmt: str = "text", *, access: bool = False) -> None:
    """Route serve's loggers to stderr in `fmt`. Call again after uvicorn.Config, which sets up uvicorn's own
    handlers: in JSON they are replaced, so that its lines come out as JSON too."""
    fmt = fmt.strip().lower()  # (JSON, as a config map may spell it)
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter("%(message)s"))
    # text: routeweave's other loggers and uvicorn's keep their own output (a traceback as Python prints it)
    # JSON: the root logger too (asyncio's, any library's), and the loggers that keep handlers of their own
    names = [SERVE, ACCESS] + (["", "routeweave", "uvicorn", "uvicorn.access", "py.warnings", *LITELLM] if fmt == "json" else [])
    logging.captureWarnings(fmt == "json")  # a CpuContention warning, say, as a JSON line too
    for name in names:
        logger = logging.getLogger(name or None)
        logger.handlers, logger.propagate = [handler], False
    logging.getLogger(SERVE).setLevel(logging.INFO)
    logging.getLogger(ACCESS).setLevel(logging.INFO if access else logging.WARNING)


def say(message: str, level: int = logging.INFO) -> None:
    """One of serve's own lines ("stopping: ...", a worker's exit, the pruner's report, an error)."""
    logging.getLogger(SERVE).log(level, message)


def request_done(method: str, path: str, status: int, started: float, model: str, session_id: str | None) -> None:
    """The access line of one request (nothing unless --access-log)."""
    log = logging.getLogger(ACCESS)
    if not log.isEnabledFor(logging.INFO):
        return
    ms = round((time.perf_counter() - started) * 1000, 1)
    fields = {"method": method, "path": path, "status": status, "duration_ms": ms, "model": model, "session_id": session_id}
    log.info("%s %s %d %.0f ms model=%s session=%s", method, path, status, ms, model, session_id or "-",
             extra={"fields": fields})
