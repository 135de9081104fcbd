"""What the embedded llama.cpp servers of *every* routeweave process on this machine ask of its cores.

A pool's own servers are checked against the cores when they start (`check_thread_budget`), but two
processes each within the budget still oversubscribe the machine together: two `routeweave` commands,
each with a 2-thread server on 2 cores, made each run 18× slower here (its threads
spin-wait on each other). So each running server holds an flock on a small JSON file in a shared folder
(`$ROUTEWEAVE_RUN_DIR`, default `/tmp/routeweave-servers`): a file whose lock is held belongs to a live
server, one whose lock is free was left by a process that died (a kill -9 included) and is removed by the
next reader. Starting servers that, with the others', ask for more threads than the cores warns
(`CpuContention`), naming the other processes and, when one of them runs the same server, how to share it
instead (`$ROUTEWEAVE_ATTACH_SERVERS`). Training's torch threads and causal_llm's offline feature batches are
recorded and warned about the same way (`cpu_job`), never offered to share.

`ROUTEWEAVE_CPU=wait` makes a process wait instead, before it starts its servers or job, until the others'
threads leave room for its own; waiters go one at a time (an flock on `.admit` in the folder), so two
queued jobs never start together when the cores free up. Batch jobs queue that way: `ROUTEWEAVE_CPU=wait
routeweave train all …` behind a running `eval qa`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .settings import LocalServer

RUN_DIR_ENV = "ROUTEWEAVE_RUN_DIR"
MODE_ENV = "ROUTEWEAVE_CPU"


class CpuContention(RuntimeWarning):
    """Other routeweave processes' embedded servers and this one's together ask for more threads than cores."""


def run_dir() -> Path:
    return Path(os.environ.get(RUN_DIR_ENV) or "/tmp/routeweave-servers")


def _folder() -> Path:
    """The run folder, made if missing, writable by every user (sticky: each removes only its own files)."""
    folder = run_dir()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o1777)
    return folder


def mode() -> str:
    """`$ROUTEWEAVE_CPU`: 'warn' (the default) or 'wait'."""
    value = (os.environ.get(MODE_ENV) or "warn").strip().lower()
    if value not in ("warn", "wait"):
        raise ConfigError(f"${MODE_ENV} must be 'warn' (start, and warn when the cores are oversubscribed) or 'wait' "
                          f"(wait until other routeweave processes leave room), got {value!r}")
    return value


@contextmanager
def admission(threads: dict[str, int], poll_s: float = 0.5) -> Iterator[None]:
    """Around starting servers or a job. In 'wait' mode: wait (one waiter at a time) until the other processes'
    threads and `threads` fit the cores, and hold the turn until the body has recorded its claims. In 'warn'
    mode (or where the folder cannot be used): go at once."""
    fd = None
    if mode() == "wait" and threads:
        try:
            fd = os.open(_folder() / ".admit", os.O_CREAT | os.O_RDONLY, 0o644)  # flock needs no write access
        except OSError:
            fd = None
    if fd is None:
        yield
        return
    try:
        try:  # the queue: the next waiter looks only once this one has started
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is waiting its turn: say so before queueing behind it
            warnings.warn(CpuContention("waiting for the cores ($ROUTEWEAVE_CPU=wait): another routeweave process "
                                        "is queued for them first"), stacklevel=4)
            fcntl.flock(fd, fcntl.LOCK_EX)
        cores, told = os.cpu_count() or 1, False
        while True:
            others = [c for c in live_claims() if c.pid != os.getpid()]
            if not others or sum(c.threads for c in others) + sum(threads.values()) <= cores:
                break
            if not told:
                pids = ", ".join(sorted({str(c.pid) for c in others}))
                warnings.warn(CpuContention(f"waiting for the cores ($ROUTEWEAVE_CPU=wait): other routeweave processes "
                                            f"(pid {pids}) use {sum(c.threads for c in others)} thread(s) of {cores} "
                                            f"cores; this process needs {sum(threads.values())}"), stacklevel=4)
                told = True
            time.sleep(poll_s)
        yield
    finally:
        os.close(fd)


def spec_hash(spec: LocalServer) -> str:
    """Equal for two servers that serve the same model with the same adapters (one can stand in for the other)."""
    same = spec.model_dump(include={"gguf", "adapters", "n_ctx"})
    return hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Claim:
    pid: int
    server: str
    threads: int
    base_url: str
    spec: str
    command: str


class Held:
    """This process's claim on one running server: the file stays locked until `release()`."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing the file gives its lock back
            self._fd = -1


def claim(server: str, threads: int, base_url: str = "", spec: str = "") -> Held | None:
    """Record a started server (or CPU job) for the other processes; `spec` (spec_hash) and `base_url` let
    them share it, and a record without them (causal_llm's in-process feature server, training's torch
    threads) is never offered. None if the folder cannot be written (then this process is simply not seen
    by others: the warning is advice, never a reason to fail)."""
    try:
        folder = _folder()  # every user's processes record theirs here
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        writing = folder / f"{token}.writing"  # not read until renamed, locked and whole
        fd = os.open(writing, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError:
        return None
    path = folder / f"{token}.json"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record = Claim(os.getpid(), server, threads, base_url, spec, " ".join(sys.argv)[:200])
        os.write(fd, json.dumps({**record.__dict__, "started": time.time()}).encode())
        os.rename(writing, path)
    except OSError:  # a full disk, say: not recorded, and nothing half-written left behind
        os.close(fd)
        writing.unlink(missing_ok=True)
        return None
    return Held(path, fd)


def live_claims() -> list[Claim]:
    """The servers running now in any process (this one included); stale files are removed on the way."""
    found = []
    for path in sorted(run_dir().glob("*.json")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: its server is running
                raw = os.read(fd, 1 << 16)
                try:
                    found.append(Claim(**{k: v for k, v in json.loads(raw).items() if k != "started"}))
                except (ValueError, TypeError):
                    pass  # being written, or not ours: skipped
                continue
            path.unlink(missing_ok=True)  # nobody holds it: its process is gone
        except OSError:
            pass
        finally:
            os.close(fd)
    return found


def contention(starting: dict[str, int], specs: dict[str, str] | None = None, cores: int | None = None) -> str | None:
    """The warning for servers (or jobs) about to start in this process, name -> threads, or None when every
    process's fit the cores. `specs`: name -> spec_hash of those that another process's server can stand in for."""
    cores = cores or os.cpu_count() or 1
    others = [c for c in live_claims() if c.pid != os.getpid()]
    mine = sum(starting.values())
    theirs = sum(c.threads for c in others)
    if not others or not starting or mine + theirs <= cores:
        return None
    by_pid: dict[int, list[Claim]] = {}
    for c in others:
        by_pid.setdefault(c.pid, []).append(c)
    named = "; ".join(f"pid {pid} ({cs[0].command or '?'}): {sum(c.threads for c in cs)} thread(s)"
                      for pid, cs in by_pid.items())
    message = (f"other routeweave processes on this machine run embedded llama.cpp servers or training with {theirs} "
               f"thread(s) [{named}]; with this process's {mine} the {cores} cores are oversubscribed, and every "
               "llama.cpp server on them, theirs and this one's, runs many times slower (18x measured on 2 cores). "
               "Let the other process finish first (ROUTEWEAVE_CPU=wait queues for it)")
    same = {name: c.base_url for name, h in (specs or {}).items() for c in others if c.base_url and h and c.spec == h}
    if same:
        message += (f", or share its server instead of starting one: ROUTEWEAVE_ATTACH_SERVERS='{json.dumps(same)}' "
                    "(while that process runs)")
    return message + ", or lower 'threads' in the pools' [servers.*] tables."


@contextmanager
def cpu_job(name: str, threads: int) -> Iterator[None]:
    """A CPU-heavy job that is no llama.cpp server (training's torch threads), warned about and recorded like
    one for as long as it runs."""
    with admission({name: threads}):
        warning = contention({name: threads})
        if warning:
            warnings.warn(CpuContention(warning), stacklevel=3)
        held = claim(name, threads)
    try:
        yield
    finally:
        if held is not None:
            held.release()
