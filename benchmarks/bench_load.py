"""What the serving benchmarks share: child processes started and stopped cleanly, a process tree's CPU
time, and a closed-loop HTTP client (`concurrency` workers, each sending its next request when the last
one is answered) that reports throughput, latency percentiles and the server's CPU per request."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """user+system CPU seconds of a process and its live descendants (threads included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
        todo += children.get(p, [])
    return total


class Child:
    """A child process whose stdout announces its URL (`pattern` group 1); stopped on exit, stdin closed."""

    def __init__(self, cmd: list[str], *, pattern: str, env: dict | None = None, log: Path | None = None):
        self.cmd, self.pattern, self.env, self.log_path = cmd, pattern, env, log
        self.url: str | None = None
        self.lines: list[str] = []

    def __enter__(self) -> "Child":
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, **(self.env or {})})
        found = threading.Event()

        def read() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                match = re.search(self.pattern, line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 180
        while not found.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"{self.cmd[:4]} did not start:\n" + "".join(self.lines[-30:]))
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_http(self, path: str, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}{path} did not answer:\n" + "".join(self.lines[-30:]))

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_path:
            self.log_path.write_text("".join(self.lines))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)  # streaming: time to the first content token
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def summary(self) -> dict:
        ok = len(self.latencies)
        out = {"ok": ok, "errors": len(self.errors), "rps": ok / self.wall_s if self.wall_s else 0.0,
               "p50_ms": pct(self.latencies, 50) * 1000, "p99_ms": pct(self.latencies, 99) * 1000,
               "cpu_ms_per_request": self.cpu_s / ok * 1000 if ok else float("nan"), "statuses": self.statuses}
        if self.firsts:
            out["ttft_p50_ms"] = pct(self.firsts, 50) * 1000
            out["ttft_p99_ms"] = pct(self.firsts, 99) * 1000
        if self.errors:
            out["first_errors"] = self.errors[:3]
        return out


async def drive(url: str, body: dict, *, count: int, concurrency: int, cpu_pid: int | None = None, check: str = "1889",
                stream: bool = False, retry_429: float | None = None) -> Phase:
    """`count` requests with `concurrency` in flight; a reply counts when it is a 200 that contains `check`.
    Non-200 replies (a 429 under a cap) are counted by status, not as latencies; with `retry_429` a client
    refused with 429 waits that long and sends again (until `count` are answered)."""
    phase = Phase()
    issued = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < count:
            issued += 1
            started = time.perf_counter()
            first = None
            try:
                async with session.post(url, json=body) as resp:
                    phase.statuses[resp.status] = phase.statuses.get(resp.status, 0) + 1
                    if stream and resp.status == 200:
                        text = []
                        async for line in resp.content:
                            if first is None and b'"content":"' in line and b'"content":""' not in line:
                                first = time.perf_counter() - started
                            text.append(line)
                        data = b"".join(text).decode()
                    else:
                        data = await resp.text()
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                phase.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            if resp.status != 200:
                if resp.status == 429 and retry_429 is not None:
                    issued -= 1
                    await asyncio.sleep(retry_429)
                continue
            if check not in data:
                phase.errors.append(data[:300])
                continue
            phase.latencies.append(time.perf_counter() - started)
            if first is not None:
                phase.firsts.append(first)

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        cpu0 = tree_cpu_s(cpu_pid) if cpu_pid else 0.0
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        phase.wall_s = time.perf_counter() - started
        phase.cpu_s = tree_cpu_s(cpu_pid) - cpu0 if cpu_pid else 0.0
    return phase


def median_of(runs: list[dict]) -> dict:
    """Per numeric key, the median over repeated runs (statuses summed)."""
    out: dict = {}
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        if all(isinstance(v, (int, float)) for v in values):
            out[key] = statistics.median(values)
        elif key == "statuses":
            out[key] = {s: sum(r[key].get(s, 0) for r in runs) for s in {s for r in runs for s in r[key]}}
        else:
            out[key] = values[0]
    out["runs"] = len(runs)
    return out


def python() -> str:
    return sys.executable
