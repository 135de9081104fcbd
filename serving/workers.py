"""`serve --workers N`: N worker processes on one listening socket, sharing one set of model servers.

The parent binds the socket, starts the pool's embedded llama.cpp servers once (within the thread
budget, as a single process would) and starts N workers: each a full `routeweave serve` process (its own
event loop, Engine, LiteLLM Router) that inherits the socket (the kernel spreads connections over them)
and attaches to the parent's model servers instead of starting its own ($ROUTEWEAVE_ATTACH_SERVERS).

- Storage: every worker opens the same SQLite files (trace store and checkpoints, WAL: one writer at a
  time, each write a short transaction; the others wait on SQLite's busy timeout), or the Postgres
  checkpointer when $ROUTEWEAVE_CHECKPOINTER_URL is set.
- `--max-sessions` is per worker: N workers admit up to N x max-sessions in all.
- Metrics: the workers share a prometheus_client multiprocess folder; /metrics on any worker sums all.
- Retention (`--gc-older-than`) runs in worker 0 only.
- If a worker exits, the parent stops the others and exits with its code (a supervisor restarts the lot)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from ..agents.local_server import ATTACH_ENV, ServerFleet
from ..agents.pool import Pool
from .metrics import MULTIPROC_ENV


def run_workers(pool: Pool, sock: socket.socket, command: list[str], workers: int, *, log=print) -> int:
    """Start the model servers, then `workers` copies of `command` (a `routeweave serve` command line, given by
    the CLI that owns it) on `sock`, each told its socket and index; wait."""
    fleet = ServerFleet(pool).start()
    metrics_dir = tempfile.mkdtemp(prefix="routeweave-metrics-")
    env = {**os.environ, ATTACH_ENV: json.dumps(fleet.base_urls()), MULTIPROC_ENV: metrics_dir}
    procs: list[subprocess.Popen] = []
    stopping = []

    def stop(signum, _frame) -> None:
        stopping.append(signum)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i in range(workers):
            cmd = [*command, "--listen-fd", str(sock.fileno()), "--worker-index", str(i)]
            procs.append(subprocess.Popen(cmd, pass_fds=[sock.fileno()], env=env))
        log(f"{workers} workers: pids {' '.join(str(p.pid) for p in procs)}; model servers {fleet.base_urls() or 'none'}")
        code = 0
        while not stopping:
            exited = [p for p in procs if p.poll() is not None]
            if exited:
                code = exited[0].returncode or 1
                log(f"worker {exited[0].pid} exited with {exited[0].returncode}: stopping the others")
                break
            time.sleep(0.2)
        return code
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s, handler in old.items():
            signal.signal(s, handler)
        fleet.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
