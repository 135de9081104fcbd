"""`routeweave serve` side by side with LiteLLM's proxy, on loopback, against one stub backend.

    python benchmarks/serve_vs_litellm.py [--quick] [--delay 0] [--rounds 3] [--out-md FILE] [--out-json FILE]

One stub OpenAI-compatible backend (benchmarks/stub_backend.py: fixed short reply, true usage, `--delay`)
serves LiteLLM's proxy (`litellm --config ... --num_workers 1`, one model on the stub) and `routeweave
serve` (the stub as router and as the only expert). The same aiohttp client drives both:

- single_call: one request = one model call (`routeweave-direct` vs the proxy's model), at c=`--concurrency`
  (throughput; rounds alternate which server goes first) and at c=1 (latency: 4 x `--rounds` short blocks
  per server, taking turns; the ratio is the median of the paired blocks' ratios).
- stream: the same with `stream: true`; time to the first content token.
- r1_session: a Router-R1 session over HTTP (router twice, expert once), in the default durable mode and
  in every opt-in faster mode; beside it the same three calls made by LiteLLM's Router in a bare process
  (the floor a LiteLLM-based session cannot go under) and by the bare openai client.
- overload: r1 sessions at 4x the concurrency, with and without `--max-sessions 8`.
- workers: the single-call and r1 loads (at twice the concurrency) on `serve --workers 2`.
- backend_floor: the client straight to the stub.

CPU per request (or session) = the serving process tree's user+system CPU over the measured phase,
divided by the answered requests: contention from other jobs on the machine changes it far less than it
changes requests/s or latency. Noise: every figure is the median of `--rounds` alternating runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_load import Child, drive, median_of, pct, python  # noqa: E402
from client_floor import ENV as LITELLM_ENV, QUESTION, floor_in_child  # noqa: E402

ENV = {**LITELLM_ENV, "GRADIO_ANALYTICS_ENABLED": "False", "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
MODES = {"durable": [], "exit": ["--durability", "exit"]}  # the default (sync), then the opt-in faster mode


def pool_toml(api_base: str) -> str:
    price = "{ input_per_m = 0.10, output_per_m = 0.10 }"
    return (f'[router]\nmodel = "openai/router"\napi_base = "{api_base}"\ngrammar = false\nprice = {price}\n'
            f'max_tokens = 32\n\n[limits]\nbudget_usd = 1.0\nmax_rounds = 2\nmax_searches_per_turn = 1\n\n'
            f'[[experts]]\nname = "Stub"\nmodel = "openai/expert"\napi_base = "{api_base}"\n'
            f'description = "Answers any factual question."\nprice = {price}\nmax_tokens = 32\n')


def proxy_yaml(api_base: str) -> str:
    return (f"model_list:\n  - model_name: stub\n    litellm_params:\n      model: openai/stub\n"
            f"      api_base: {api_base}\n      api_key: sk-none\n")


def serve(workdir: Path, pool: Path, name: str, extra: list[str]) -> Child:
    return Child([python(), "-m", "routeweave.ui.cli", "serve", "--port", "0", "--pool", str(pool),
                  "--db", str(workdir / f"{name}.db"), *extra],
                 pattern=r"on (http://[\d.]+:\d+)", env={**ENV, "ROUTEWEAVE_CACHE_DIR": str(workdir / "cache")},
                 log=workdir / f"{name}.log")


def proxy(workdir: Path, api_base: str) -> Child:
    config = workdir / "proxy.yaml"
    config.write_text(proxy_yaml(api_base))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    child = Child(["litellm", "--config", str(config), "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"],
                  pattern=r"(Proxy initialized|Started server process)", env=ENV, log=workdir / "proxy.log")
    child.base = f"http://127.0.0.1:{port}"
    return child


# -- the run ------------------------------------------------------------------------------------------------


def rounds_of(rounds: int, servers: dict, phase) -> dict:
    """`phase(name, server)` for every server, `rounds` times, the order alternating; medians per server."""
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    names = list(servers)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            runs[name].append(phase(name, servers[name]))
    return {name: median_of(rs) for name, rs in runs.items()}


def latency_blocks(blocks: int, targets: dict, n: int, log=print) -> dict:
    """Latency at concurrency 1, in `blocks` short blocks of `n` requests per server, the servers taking turns
    (A B B A A B ...), so that a drift of the machine's speed (seconds to minutes, on a shared machine) hits
    both alike. Per server: the median of the block p50s, p99 over all requests, the CPU per request; and the
    ratio routeweave / proxy as the median of the paired blocks' ratios (block i of one against block i of
    the other, run back to back)."""
    names = list(targets)
    p50s: dict[str, list[float]] = {name: [] for name in names}
    pooled: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    for b in range(blocks):
        for name in (names if b % 2 == 0 else names[::-1]):
            child, url, body = targets[name]
            phase = asyncio.run(drive(url, body, count=n, concurrency=1, cpu_pid=child.pid))
            got = phase.summary()
            p50s[name].append(got["p50_ms"])
            pooled[name].extend(phase.latencies)
            cpu[name].append(got["cpu_ms_per_request"])
            errors[name] += got["errors"]
    ratios = [a / b for a, b in zip(p50s["routeweave"], p50s["litellm"])]
    out: dict = {name: {"p50_ms": statistics.median(p50s[name]), "p99_ms": pct(pooled[name], 99) * 1000,
                        "c1_cpu_ms_per_request": statistics.median(cpu[name]), "c1_block_p50_ms": p50s[name],
                        "c1_errors": errors[name]}
                 for name in names}
    out["ratio_p50"] = statistics.median(ratios)
    out["ratio_p50_blocks"] = ratios
    log(f"c=1 latency, {blocks} blocks of {n}: p50 " + ", ".join(f"{k} {out[k]['p50_ms']:.2f} ms" for k in names)
        + f"; paired ratio {out['ratio_p50']:.2f} (blocks {min(ratios):.2f}-{max(ratios):.2f})")
    return out


def run(*, quick: bool, delay: float, rounds: int, concurrency: int, log=print) -> dict:
    n1, nc, nr = (60, 300, 120) if quick else (200, 500, 180)
    rounds = 1 if quick else rounds
    blocks = 2 if quick else 4 * rounds
    report: dict = {"delay_s": delay, "concurrency": concurrency, "rounds": rounds, "quick": quick,
                    "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
                               f"{os.getloadavg()[0]:.1f} at start"}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with tempfile.TemporaryDirectory(prefix="rw-vs-litellm-") as tmp:
        workdir = Path(tmp)
        with Child([python(), str(HERE / "stub_backend.py"), "--delay", str(delay)], pattern=r"(http://\S+/v1)") as stub:
            api_base = stub.url
            pool = workdir / "pool.toml"
            pool.write_text(pool_toml(api_base))
            modes = MODES if not quick else {"durable": []}
            with proxy(workdir, api_base) as lp, serve(workdir, pool, "durable", [] if not quick else ["--no-ui"]) as rw:
                lp.url = lp.base
                lp.wait_http("/health/liveliness")
                rw.wait_http("/healthz")
                targets = {
                    "routeweave": (rw, f"{rw.url}/v1/chat/completions", {"model": "routeweave-direct", "messages": QUESTION}),
                    "litellm": (lp, f"{lp.url}/v1/chat/completions", {"model": "stub", "messages": QUESTION, "max_tokens": 32}),
                }
                for _, (child, url, body) in targets.items():  # warm-up
                    asyncio.run(drive(url, body, count=50, concurrency=4))

                def single(name, target):
                    child, url, body = target
                    many = asyncio.run(drive(url, body, count=nc, concurrency=concurrency, cpu_pid=child.pid)).summary()
                    log(f"single_call {name}: c={concurrency} {many['rps']:.0f} rps, {many['cpu_ms_per_request']:.2f} ms CPU/request")
                    return {"rps": many["rps"], "loaded_p50_ms": many["p50_ms"], "loaded_p99_ms": many["p99_ms"],
                            "cpu_ms_per_request": many["cpu_ms_per_request"], "errors": many["errors"]}

                single_call = rounds_of(rounds, targets, single)
                latency = latency_blocks(blocks, targets, n1, log)
                for name in targets:
                    c1_errors = latency[name].pop("c1_errors")
                    single_call[name].update(latency[name], errors=single_call[name]["errors"] + c1_errors)
                single_call["ratio_rps"] = single_call["routeweave"]["rps"] / single_call["litellm"]["rps"]
                single_call["ratio_p50"] = latency["ratio_p50"]
                single_call["ratio_p50_blocks"] = latency["ratio_p50_blocks"]
                single_call["ratio_cpu"] = (single_call["routeweave"]["cpu_ms_per_request"]
                                            / single_call["litellm"]["cpu_ms_per_request"])
                report["single_call"] = single_call

                def streamed(name, target):
                    child, url, body = target
                    body = {**body, "stream": True}
                    got = asyncio.run(drive(url, body, count=n1, concurrency=1, cpu_pid=child.pid, stream=True)).summary()
                    log(f"stream {name}: ttft p50 {got.get('ttft_p50_ms', float('nan')):.2f} ms")
                    return {k: got[k] for k in ("ttft_p50_ms", "ttft_p99_ms", "p50_ms", "cpu_ms_per_request", "errors") if k in got}

                report["stream"] = rounds_of(rounds, targets, streamed)
                r1_body = {"model": "routeweave-r1", "messages": QUESTION}

                def session_phase(name, child):
                    url = f"{child.url}/v1/chat/completions"
                    one = asyncio.run(drive(url, r1_body, count=max(20, n1 // 3), concurrency=1, cpu_pid=child.pid)).summary()
                    many = asyncio.run(drive(url, r1_body, count=nr, concurrency=concurrency, cpu_pid=child.pid)).summary()
                    log(f"r1_session {name}: c=1 p50 {one['p50_ms']:.2f} ms, {many['rps']:.1f} sessions/s, "
                        f"{many['cpu_ms_per_request']:.2f} ms CPU/session")
                    return {"sessions_per_s": many["rps"], "p50_ms": one["p50_ms"], "p99_ms": one["p99_ms"],
                            "loaded_p99_ms": many["p99_ms"], "cpu_ms_per_session": many["cpu_ms_per_request"],
                            "errors": one["errors"] + many["errors"]}

                asyncio.run(drive(f"{rw.url}/v1/chat/completions", r1_body, count=30, concurrency=2))

                def session_or_floor(name, child):  # the floor alternates with the sessions, same rounds
                    if child is None:
                        return floor_in_child(api_base, "litellm", nr, concurrency)
                    return session_phase(name, child)

                sessions = rounds_of(rounds, {"routeweave": rw, "litellm_client_floor": None}, session_or_floor)
            for mode, flags in modes.items():
                if mode == "durable":
                    continue
                with serve(workdir, pool, mode, ["--no-ui", *flags]) as alt:
                    alt.wait_http("/healthz")
                    asyncio.run(drive(f"{alt.url}/v1/chat/completions", r1_body, count=30, concurrency=2))
                    sessions[f"routeweave_{mode}"] = rounds_of(rounds, {mode: alt}, session_phase)[mode]
            if not quick:
                report["workers"] = workers_phase(workdir, pool, r1_body, targets["routeweave"][2], concurrency, nc, nr, log)
            sessions["openai_client_floor"] = floor_in_child(api_base, "openai", 2 * nr, concurrency)
            log(f"r1 floors: {sessions['litellm_client_floor']}, openai {sessions['openai_client_floor']}")
            floor = sessions["litellm_client_floor"]["cpu_ms_per_session"]
            sessions["graph_cpu_ms_above_litellm_floor"] = sessions["routeweave"]["cpu_ms_per_session"] - floor
            report["r1_session"] = sessions
            report["overload"] = overload(workdir, pool, r1_body, concurrency * 4, max(nr // 2, 60), log)
            floor_phase = asyncio.run(drive(f"{api_base}/chat/completions", targets["litellm"][2], count=nc,
                                            concurrency=concurrency, cpu_pid=stub.pid)).summary()
            floor_one = asyncio.run(drive(f"{api_base}/chat/completions", targets["litellm"][2], count=n1, concurrency=1)).summary()
            report["backend_floor"] = {"rps": floor_phase["rps"], "p50_ms": floor_one["p50_ms"],
                                       "cpu_ms_per_request": floor_phase["cpu_ms_per_request"]}
    return report


def workers_phase(workdir: Path, pool: Path, r1_body: dict, single_body: dict, concurrency: int, nc: int, nr: int,
                  log) -> dict:
    """The same loads on `serve --workers 2` (CPU: the parent and both workers)."""
    out = {}
    with serve(workdir, pool, "workers2", ["--no-ui", "--workers", "2"]) as child:
        child.wait_http("/healthz")
        url = f"{child.url}/v1/chat/completions"
        asyncio.run(drive(url, r1_body, count=40, concurrency=4))
        single = asyncio.run(drive(url, single_body, count=nc, concurrency=concurrency * 2, cpu_pid=child.pid)).summary()
        r1 = asyncio.run(drive(url, r1_body, count=nr, concurrency=concurrency * 2, cpu_pid=child.pid)).summary()
        out["single_call"] = {k: single[k] for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "errors")}
        out["r1_session"] = {"sessions_per_s": r1["rps"], "p99_ms": r1["p99_ms"], "cpu_ms_per_session": r1["cpu_ms_per_request"],
                             "errors": r1["errors"]}
        log(f"workers=2: {out}")
    return out


def overload(workdir: Path, pool: Path, body: dict, concurrency: int, count: int, log) -> dict:
    """Router-R1 sessions at high concurrency, with no cap and with --max-sessions 8 (a refused client waits
    the 1 s its Retry-After says and sends again): how long the answered ones took, how many 429s were sent."""
    out = {"concurrency": concurrency}
    for name, flags in {"no_cap": [], "cap_8": ["--max-sessions", "8"]}.items():
        with serve(workdir, pool, f"overload-{name}", ["--no-ui", *flags]) as child:
            child.wait_http("/healthz")
            got = asyncio.run(drive(f"{child.url}/v1/chat/completions", body, count=count, concurrency=concurrency,
                                    retry_429=1.0)).summary()
            out[name] = {k: got[k] for k in ("ok", "rps", "p50_ms", "p99_ms", "statuses", "errors")}
            log(f"overload {name}: {out[name]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round, no UI mount, no opt-in modes (CI)")
    parser.add_argument("--delay", type=float, default=0.0, help="the stub backend's delay per call, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per figure; medians are reported")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out-json", type=Path)
    parser.add_argument("--out-md", type=Path)
    args = parser.parse_args()
    started = time.monotonic()
    report = run(quick=args.quick, delay=args.delay, rounds=args.rounds, concurrency=args.concurrency,
                 log=lambda m: print(m, file=sys.stderr, flush=True))
    report["wall_s"] = time.monotonic() - started
    report["command"] = "python benchmarks/serve_vs_litellm.py " + " ".join(sys.argv[1:])
    text = json.dumps(report, indent=1)
    print(text)
    if args.out_json:
        args.out_json.write_text(text)
    if args.out_md:
        from serve_vs_litellm_report import markdown
        args.out_md.write_text(markdown(report))


if __name__ == "__main__":
    main()
