"""`serve --workers N`: N worker processes on one listening socket, sharing one set of model servers.

The parent binds the socket, starts the pool's embedded llama.cpp servers once (within the thread
budget, as a single process would) and starts N workers: each a full `routeweave serve` process (its own
event loop, Engine, LiteLLM Router) that inherits the socket (the kernel spreads connections over them)
and attaches to the parent's model servers instead of starting its own ($ROUTEWEAVE_ATTACH_SERVERS).

- Storage: every worker opens the same SQLite files (trace store and checkpoints, WAL: one writer at a
  time, each write a short transaction; the others wait on SQLite's busy timeout), or the Postgres
  checkpointer when $ROUTEWEAVE_CHECKPOINTER_URL is set.
- `--max-sessions` is per worker: N workers admit up to N x max-sessions in all.
- Metrics: the workers share a prometheus_client multiprocess folder; /metrics on any worker sums all. A
  parent killed by SIGKILL cannot remove its folder: the next `serve --workers` on the machine does.
- Retention (`--gc-older-than`) runs in worker 0 only.
- If a worker exits, the parent stops the others and exits with its code (128 + the signal's number when a
  signal ended it, as shells report it), so a supervisor restarts the lot.
- SIGTERM or SIGINT to the parent: it sends SIGTERM to the workers and gives them the graceful timeout (plus
  a margin to close their engines) to finish the requests in flight before it kills them.
- A worker whose parent dies (even by SIGKILL, which the parent cannot pass on) stops too (`follow_parent`):
  the model servers died with the parent, and a worker left listening would answer every request badly
  and hold the port against a restart."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from ..agents.local_server import ATTACH_ENV, ServerFleet
from ..agents.pool import Pool
from .metrics import MULTIPROC_ENV

CLOSE_MARGIN_S = 5.0  # after the graceful timeout: the worker closes its engine (checkpointer, trace store)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
METRICS_PREFIX = "routeweave-metrics-"  # + the parent's pid: a folder in the temp dir, removed when serve ends


def run_workers(pool: Pool, sock: socket.socket, command: list[str], workers: int, *, graceful_s: float = 30.0,
                log=print) -> int:
    """Start the model servers, then `workers` copies of `command` (a `routeweave serve` command line, given by
    the CLI that owns it) on `sock`, each told its socket, index and parent; wait."""
    fleet = ServerFleet(pool).start()
    sweep_metrics_dirs(log=log)
    metrics_dir = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")
    env = {**os.environ, ATTACH_ENV: json.dumps(fleet.base_urls()), MULTIPROC_ENV: metrics_dir}
    procs: list[subprocess.Popen] = []
    stopping = []

    def stop(signum, _frame) -> None:
        stopping.append(signum)

    # (signal.signal works only on the main thread, so the workers are started from it, and PR_SET_PDEATHSIG,
    # which fires when the thread that started a child ends, fires only when this process ends)
    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i in range(workers):
            cmd = [*command, "--listen-fd", str(sock.fileno()), "--worker-index", str(i), "--parent-pid", str(os.getpid())]
            procs.append(subprocess.Popen(cmd, pass_fds=[sock.fileno()], env=env))
        log(f"{workers} workers: pids {' '.join(str(p.pid) for p in procs)}; model servers {fleet.base_urls() or 'none'}")
        code = 0
        while not stopping:
            exited = [p for p in procs if p.poll() is not None]
            if exited:
                code = exit_code(exited[0].returncode)
                log(f"worker {exited[0].pid} {ended(exited[0].returncode)}: stopping the others")
                break
            time.sleep(0.2)
        return code
    finally:
        stop_workers(procs, graceful_s, log=log)
        for s, handler in old.items():
            signal.signal(s, handler)
        fleet.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def sweep_metrics_dirs(*, log=print) -> list[str]:
    """Remove the metrics folders of parents that died without removing theirs (SIGKILL): each is named after
    its parent's pid. A folder whose pid runs (another serve, or a reused pid) is left alone."""
    swept = []
    for entry in os.scandir(tempfile.gettempdir()):
        pid = entry.name[len(METRICS_PREFIX):].split("-", 1)[0]
        if not (entry.name.startswith(METRICS_PREFIX) and pid.isdigit() and entry.is_dir(follow_symlinks=False)):
            continue
        try:
            os.kill(int(pid), 0)
            continue
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
            swept.append(entry.path)
        except PermissionError:  # another user's running process
            continue
    if swept:
        log(f"removed {len(swept)} metrics folder(s) left by serve processes that were killed: {' '.join(swept)}")
    return swept


def exit_code(returncode: int) -> int:
    """The parent's exit code for a worker's: 128 + N for a worker ended by signal N (Popen's -N; sys.exit(-9)
    would be 247), 1 for a worker that ended with 0 on its own (a worker never should)."""
    return 128 - returncode if returncode < 0 else (returncode or 1)


def ended(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with {returncode}"


def stop_workers(procs: list[subprocess.Popen], graceful_s: float, *, log=print) -> None:
    """SIGTERM to each worker still running; they get `graceful_s` (their uvicorn's graceful timeout) and a
    margin to finish, all at once, before the ones left are killed."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + graceful_s + CLOSE_MARGIN_S
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"worker {p.pid} still running {graceful_s + CLOSE_MARGIN_S:g} s after SIGTERM: killing it")
            p.kill()
            p.wait()


def follow_parent(parent_pid: int | None = None, *, every_s: float = 1.0) -> None:
    """In a worker: SIGTERM to itself (the graceful path) when its parent dies. On Linux the kernel sends it
    (PR_SET_PDEATHSIG); everywhere a thread also watches the parent's pid every `every_s`, which covers a
    parent that died before this ran (the worker was already re-parented) and systems without prctl."""
    parent = parent_pid or os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0))
        except (OSError, AttributeError):  # no libc to load, or no prctl in it: the watcher alone
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="routeweave-parent-watch", daemon=True).start()
