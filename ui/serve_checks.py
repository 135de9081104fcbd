"""What `routeweave serve` and `chat` check before anything slow starts (the pool's model servers, the
workers): arguments that would otherwise fail only later, as a traceback, and the listening socket. Each
failure is a ConfigError saying what to do (the command prints `error: ...` and exits 2)."""

from __future__ import annotations

import argparse
import errno
import os
import socket
from pathlib import Path

from ..serving import ConfigError, default_db_path, parse_duration


def check_args(args: argparse.Namespace) -> None:
    if args.__dict__.get("gc_older_than"):
        parse_duration(args.gc_older_than)  # (its ConfigError says which units are read)
    check_db_folder(args.db)


def check_db_folder(db: Path | None) -> None:
    """The trace database's folder exists or can be made, and can be written in (made here if missing)."""
    what = f"--db {db}" if db else f"the trace database {default_db_path()} (set by ROUTEWEAVE_DB or XDG_DATA_HOME)"
    path = Path(db).expanduser() if db else default_db_path()
    if path.is_dir():
        raise ConfigError(f"{what} is a folder: give a file path, e.g. --db {path / 'routeweave.db'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in [path.parent, *path.parent.parents] if p.exists() and not p.is_dir())
        raise ConfigError(f"cannot make the folder of {what}: {blocker} is a file, not a folder; "
                          f"give a --db path inside a folder") from None
    except OSError as exc:
        raise ConfigError(f"cannot make the folder of {what}: {exc.strerror} ({exc.filename}); "
                          f"give a --db path in a folder you can write to") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write in {path.parent} (the folder of {what}): give a --db path in a folder you can write to")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (the backlog holds connections until the server or a worker accepts)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except socket.gaierror:
        sock.close()
        raise ConfigError(f"cannot listen on --host {host}: no such address (use 127.0.0.1, 0.0.0.0 or this machine's address)") from None
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use (another routeweave serve still running? "
                              f"`ss -ltnp 'sport = :{port}'` names the process): stop it or pick another --port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"cannot listen on --host {host}: not an address of this machine "
                              f"(use 127.0.0.1, 0.0.0.0 or one of its addresses)") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"port {port} needs privileges this user lacks: pick a --port above 1023") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
