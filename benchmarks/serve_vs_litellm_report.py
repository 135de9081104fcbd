"""The Markdown table of a benchmarks/serve_vs_litellm.py report (its JSON), with the issue's targets."""

from __future__ import annotations

import json
import sys


def _f(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    single, stream, r1 = report["single_call"], report["stream"], report["r1_session"]
    rw, lp = single["routeweave"], single["litellm"]
    lines = [
        "# `routeweave serve` vs LiteLLM's proxy",
        "",
        f"Command: `{report.get('command', 'python benchmarks/serve_vs_litellm.py')}` ({report['wall_s']:.0f} s)  ",
        f"Machine: {report['machine']}; stub backend delay {report['delay_s']} s; client concurrency "
        f"{report['concurrency']}; every figure the median of {report['rounds']} alternating run(s).",
        "",
        "CPU = the serving process tree's user+system CPU time over the measured phase / requests answered.",
        "",
        "## One request, one model call (`routeweave-direct` vs the proxy's model)",
        "",
        "| server | requests/s | c=1 p50 ms | c=1 p99 ms | loaded p99 ms | CPU ms/request | stream TTFT p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in (("routeweave serve", rw), ("LiteLLM proxy (1 worker)", lp)):
        key = "routeweave" if name.startswith("routeweave") else "litellm"
        lines.append(f"| {name} | {_f(row['rps'])} | {_f(row['p50_ms'], 2)} | {_f(row['p99_ms'], 2)} | "
                     f"{_f(row['loaded_p99_ms'], 1)} | {_f(row['cpu_ms_per_request'], 2)} | "
                     f"{_f(stream[key].get('ttft_p50_ms'), 2)} |")
    floor = report["backend_floor"]
    lines += [f"| stub backend alone (the floor) | {_f(floor['rps'])} | {_f(floor['p50_ms'], 2)} | | | "
              f"{_f(floor['cpu_ms_per_request'], 2)} (stub) | |", "",
              f"Ratios routeweave / proxy: requests/s **{single['ratio_rps']:.2f}** (target ≥ 1.0), c=1 p50 "
              f"**{single['ratio_p50']:.2f}** (target ≤ 1.0), CPU per request {single['ratio_cpu']:.2f}.", "",
              "## Router-R1 session (router twice, expert once) over HTTP", "",
              "| what | sessions/s | c=1 p50 ms | loaded p99 ms | CPU ms/session |", "|---|---:|---:|---:|---:|"]
    for name, row in r1.items():
        if not isinstance(row, dict):
            continue
        lines.append(f"| {name} | {_f(row.get('sessions_per_s'))} | {_f(row.get('p50_ms'), 2)} | "
                     f"{_f(row.get('loaded_p99_ms'), 1)} | {_f(row.get('cpu_ms_per_session'), 2)} |")
    lines += ["", f"What the service adds above the LiteLLM client floor (the same three calls through LiteLLM's Router "
                  f"in a bare process): **{r1['graph_cpu_ms_above_litellm_floor']:.2f} ms CPU per session** "
                  f"(target: ≤ 6 ms per session in all; LiteLLM's Router alone costs "
                  f"{r1['litellm_client_floor']['cpu_ms_per_session']:.1f} ms for the three calls here).", ""]
    workers = report.get("workers")
    if workers:
        one = r1.get("routeweave", {})
        lines += ["## `serve --workers 2` (twice the client concurrency)", "",
                  "| load | 1 worker | 2 workers | CPU ms per unit, 2 workers |", "|---|---:|---:|---:|",
                  f"| one call, requests/s | {_f(rw['rps'])} | {_f(workers['single_call']['rps'])} | "
                  f"{_f(workers['single_call']['cpu_ms_per_request'], 2)} |",
                  f"| Router-R1, sessions/s | {_f(one.get('sessions_per_s'))} | {_f(workers['r1_session']['sessions_per_s'])} | "
                  f"{_f(workers['r1_session']['cpu_ms_per_session'], 2)} |", "",
                  "On 2 cores the client, the stub backend and the workers share the CPU, so a second worker can only "
                  "use what the others leave.", ""]
    over = report.get("overload")
    if over:
        lines += [f"## Overload: {over['concurrency']} clients sending Router-R1 sessions", "",
                  "| server | answered | 429s | sessions/s | p50 ms | p99 ms (answered) |", "|---|---:|---:|---:|---:|---:|"]
        for name in ("no_cap", "cap_8"):
            row = over[name]
            lines.append(f"| {name.replace('_', ' ')} | {row['ok']} | {row['statuses'].get('429', row['statuses'].get(429, 0))} | "
                         f"{_f(row['rps'])} | {_f(row['p50_ms'], 0)} | {_f(row['p99_ms'], 0)} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(json.load(open(sys.argv[1]))))
