"""Load on `routeweave serve`: 1,000 concurrent Router-R1 sessions over real HTTP on 127.0.0.1, against
stub experts (tests/support/stub_openai.py) in their own process, then an optional soak that samples
the serve process's memory (RSS). Bounded: every phase has a count or a deadline and stops by itself.

    flock /tmp/routeweave-cpu.lock python benchmarks/load_serve.py [--sessions 1000] [--concurrency 1000]
        [--soak-seconds 600] [--soak-concurrency 200] [--expert-delay 0.05] [--out benchmarks/results/load_serve.md]

Every session is what a real one does: the router (a stub that searches first and answers once it has
evidence) is called twice and the expert (`openai/slow:DELAY`) once, all over HTTP; LangGraph's SQLite
checkpointer and the trace store write every step. The same sessions run in this process through the
Python API (`Engine(...).graph().ainvoke`) against the same stubs, and the three stub calls are made
directly (no routeweave at all), so the report gives the latency routeweave adds over the stubs and
what HTTP serving adds over the in-process graph."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its helpers lie beside it, however it is loaded
from load_serve_procs import Serve, Stub, pool_toml  # noqa: E402
from load_serve_report import markdown  # noqa: E402


# -- clients ----------------------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard) if hard != resource.RLIM_INFINITY else needed, hard))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Outcome:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def summary(self, wall: float) -> dict:
        n = len(self.latencies)
        return {"ok": n, "errors": len(self.errors), "wall_s": wall, "per_s": n / wall if wall else 0.0,
                "p50_ms": pct(self.latencies, 50) * 1000, "p99_ms": pct(self.latencies, 99) * 1000,
                "max_ms": max(self.latencies, default=float("nan")) * 1000, "first_errors": self.errors[:5]}


async def http_sessions(url: str, count: int, concurrency: int, *, deadline: float | None = None,
                        on_tick=None, outcome: Outcome | None = None) -> tuple[Outcome, float]:
    """`count` sessions (or until `deadline`) with at most `concurrency` in flight, each its own request."""
    import aiohttp

    outcome = outcome if outcome is not None else Outcome()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600)
    issued = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < count and (deadline is None or time.monotonic() < deadline):
            i = issued
            issued += 1
            body = {"model": "routeweave-r1", "messages": [{"role": "user", "content": f"When was tower {i} built?"}]}
            started = time.perf_counter()
            try:
                async with session.post(url, json=body) as resp:
                    data = await resp.json(content_type=None)
                    meta = data.get("routeweave") or {} if isinstance(data, dict) else {}
                    if (resp.status != 200 or "1889" not in data["choices"][0]["message"]["content"]
                            or meta.get("expert_calls") != 1 or meta.get("stop_reason") != "answered"):
                        outcome.errors.append(f"{resp.status}: {json.dumps(data)[:300]}")
                        continue
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                outcome.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            outcome.latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        ticker = asyncio.create_task(on_tick()) if on_tick else None
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - started
        if ticker:
            ticker.cancel()
    return outcome, wall


async def direct_stub_sessions(api_base: str, expert_delay: float, count: int) -> Outcome:
    """The floor: the three stub calls of one session made directly, one session at a time."""
    import aiohttp

    outcome = Outcome()
    url = f"{api_base}/chat/completions"
    calls = [("router", "q"), (f"slow:{expert_delay}", "q"), ("router", "<information>1889</information>")]
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            for model, content in calls:
                async with session.post(url, json={"model": model, "messages": [{"role": "user", "content": content}]}) as r:
                    await r.json()
            outcome.latencies.append(time.perf_counter() - started)
    return outcome


def in_process(pool_file: Path, workdir: Path, sequential: int, burst: int) -> tuple[Outcome, dict]:
    """The same sessions through the Python API in this process (its own SQLite files)."""
    from routeweave.agents.pool import load_pool
    from routeweave.serving import Engine

    os.environ.pop("ROUTEWEAVE_CHECKPOINTER_URL", None)
    with Engine(load_pool(pool_file), db_path=workdir / "inproc.db", cache_dir=workdir / "cache") as engine:
        graph = engine.graph()

        async def one(i: int, outcome: Outcome) -> None:
            started = time.perf_counter()
            try:
                result = await graph.ainvoke({"question": f"When was tower {i} built?"})
                if "1889" not in result["answer"] or result["expert_calls"] != 1 or result["stop_reason"] != "answered":
                    outcome.errors.append(result["answer"][:200])
                    return
            except Exception as exc:  # noqa: BLE001
                outcome.errors.append(f"{type(exc).__name__}: {exc}")
                return
            outcome.latencies.append(time.perf_counter() - started)

        async def run_all():
            for i in range(10):  # warm-up
                await one(-i, Outcome())
            seq = Outcome()
            started = time.perf_counter()
            for i in range(sequential):
                await one(i, seq)
            seq_wall = time.perf_counter() - started
            loaded = Outcome()
            started = time.perf_counter()
            await asyncio.gather(*(one(i, loaded) for i in range(burst)))
            return seq.summary(seq_wall), loaded.summary(time.perf_counter() - started)

        return engine.loop.run(run_all())


# -- the run ----------------------------------------------------------------------------------------------


def run(sessions: int = 1000, concurrency: int = 1000, *, soak_seconds: float = 0, soak_concurrency: int = 200,
        expert_delay: float = 0.05, sequential: int = 50, compare_in_process: bool = True,
        sample_every: float = 5.0, gc_older_than: str | None = None, log=print) -> dict:
    raise_fd_limit(4 * max(concurrency, soak_concurrency) + 256)
    report: dict = {"sessions": sessions, "concurrency": concurrency, "expert_delay_s": expert_delay}
    with tempfile.TemporaryDirectory(prefix="rw-load-") as tmp, Stub() as stub:
        workdir = Path(tmp)
        pool_file = workdir / "pool.toml"
        pool_file.write_text(pool_toml(stub.api_base, expert_delay))
        started = time.perf_counter()
        floor = asyncio.run(direct_stub_sessions(stub.api_base, expert_delay, sequential))
        report["stub_direct"] = floor.summary(time.perf_counter() - started)
        extra = ["--gc-older-than", gc_older_than, "--gc-every", str(sample_every)] if gc_older_than else []
        report["serve_flags"] = extra
        with Serve(pool_file, workdir, extra) as serve:
            warm, _ = asyncio.run(http_sessions(serve.url, 20, 1))
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.errors[:3]}")
            report["rss_after_warmup_mb"] = serve.rss_mb()
            seq, wall = asyncio.run(http_sessions(serve.url, sequential, 1))
            report["http_sequential"] = seq.summary(wall)
            log(f"http c=1: {report['http_sequential']}")
            burst, wall = asyncio.run(http_sessions(serve.url, sessions, concurrency))
            report["http_burst"] = burst.summary(wall)
            report["rss_after_burst_mb"] = serve.rss_mb()
            log(f"http c={concurrency}: {report['http_burst']}")
            if soak_seconds > 0:
                samples: list[tuple[float, float, int]] = []
                db_samples: list[float] = []  # the checkpoint files (MB), at each RSS sample
                soak = Outcome()
                soak_started = time.monotonic()

                async def tick():
                    while True:
                        samples.append((time.monotonic() - soak_started, serve.rss_mb(), len(soak.latencies)))
                        db_samples.append(round(serve.checkpoints_mb(), 2))
                        await asyncio.sleep(sample_every)

                async def soak_run():
                    return await http_sessions(serve.url, 10**9, soak_concurrency, deadline=soak_started + soak_seconds,
                                               on_tick=tick, outcome=soak)

                soak, wall = asyncio.run(soak_run())
                samples.append((time.monotonic() - soak_started, serve.rss_mb(), len(soak.latencies)))
                db_samples.append(round(serve.checkpoints_mb(), 2))
                report["soak"] = {**soak.summary(wall), "seconds": soak_seconds, "concurrency": soak_concurrency,
                                  "rss_samples": samples, "checkpoint_mb_samples": db_samples}
                log(f"soak: {({k: v for k, v in report['soak'].items() if k != 'rss_samples'})}")
            report["serve_alive"] = serve.proc.poll() is None
            report["db_files_mb"] = {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(workdir.glob("serve*.db*"))}
        if compare_in_process:
            seq_in, burst_in = in_process(pool_file, workdir, sequential, sessions)
            report["inproc_sequential"] = seq_in
            report["inproc_burst"] = burst_in
            log(f"in-process c={sessions}: {burst_in}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--soak-seconds", type=float, default=0)
    parser.add_argument("--soak-concurrency", type=int, default=200)
    parser.add_argument("--expert-delay", type=float, default=0.05)
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process comparison")
    parser.add_argument("--gc-older-than", help="run serve with --gc-older-than this (and --gc-every = the sample period)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="soak sample period, seconds")
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    parser.add_argument("--json", type=Path, help="write the raw report here")
    args = parser.parse_args()
    report = run(args.sessions, args.concurrency, soak_seconds=args.soak_seconds, soak_concurrency=args.soak_concurrency,
                 expert_delay=args.expert_delay, compare_in_process=not args.no_in_process,
                 gc_older_than=args.gc_older_than, sample_every=args.sample_every,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    command = "flock /tmp/routeweave-cpu.lock python benchmarks/load_serve.py " + " ".join(sys.argv[1:])
    text = markdown(report, command.strip())
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    failed = report["http_burst"]["errors"] or report.get("soak", {}).get("errors") or not report["serve_alive"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
