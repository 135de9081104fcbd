"""The Markdown report of a benchmarks/load_serve.py run (its JSON, from `--json`).

    python benchmarks/load_serve_report.py REPORT.json "COMMAND"
"""

from __future__ import annotations

import json
import os
import platform
import sys


def markdown(report: dict, command: str) -> str:
    def row(name, s, floor=None):
        added = ""
        if floor is not None:
            added = f" | {s['p50_ms'] - floor['p50_ms']:.1f} | {s['p99_ms'] - floor['p99_ms']:.1f}"
        else:
            added = " | | "
        return (f"| {name} | {s['ok']} | {s['errors']} | {s.get('per_s', 0):.1f} | {s['p50_ms']:.1f} | "
                f"{s['p99_ms']:.1f}{added} |")

    floor = report["stub_direct"]
    lines = [
        "# `routeweave serve` under load",
        "",
        f"Command: `{command}`",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; serve, stubs "
        "and the load client share the cores.",
        "",
        f"Each session: the router stub is called twice and the expert `openai/slow:{report['expert_delay_s']}` "
        "once, over HTTP on 127.0.0.1; SQLite checkpoints and traces are written for every step "
        "(default configuration). Latency is per session (request sent to reply read).",
        "",
        "| run | sessions ok | errors | sessions/s | p50 ms | p99 ms | added p50 ms | added p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        row("stub calls alone, c=1 (the floor)", floor),
        row("in-process graph, c=1", report["inproc_sequential"], floor) if "inproc_sequential" in report else "",
        row("HTTP serve, c=1", report["http_sequential"], floor),
        row(f"in-process graph, {report['sessions']} at once", report["inproc_burst"], floor) if "inproc_burst" in report else "",
        row(f"HTTP serve, {report['sessions']} at once (c={report['concurrency']})", report["http_burst"], floor),
        "",
        "Added = the run's percentile minus the floor's (the stubs' own time, including the expert's "
        f"{report['expert_delay_s'] * 1000:.0f} ms sleep).",
    ]
    if "inproc_sequential" in report:
        http1, in1 = report["http_sequential"], report["inproc_sequential"]
        httpb, inb = report["http_burst"], report["inproc_burst"]
        lines += ["",
                  f"HTTP serving over the in-process graph: c=1 p50 +{http1['p50_ms'] - in1['p50_ms']:.1f} ms, "
                  f"p99 +{http1['p99_ms'] - in1['p99_ms']:.1f} ms; {report['sessions']} at once: p50 "
                  f"{httpb['p50_ms'] - inb['p50_ms']:+.0f} ms, p99 {httpb['p99_ms'] - inb['p99_ms']:+.0f} ms, throughput "
                  f"{httpb['per_s']:.0f} vs {inb['per_s']:.0f} sessions/s."]
    lines += ["", f"Serve RSS: {report['rss_after_warmup_mb']:.0f} MB after warm-up, "
                  f"{report['rss_after_burst_mb']:.0f} MB after the {report['sessions']}-session burst."]
    if "soak" in report:
        s = report["soak"]
        samples = s["rss_samples"]
        rss = [m for _, m, _ in samples]
        half = [m for t, m, _ in samples if t >= s["seconds"] / 2]
        lines += ["", f"## Soak: {s['seconds']:.0f} s at {s['concurrency']} concurrent sessions", "",
                  f"{s['ok']} sessions, {s['errors']} errors, {s['per_s']:.1f} sessions/s, p50 {s['p50_ms']:.0f} ms, "
                  f"p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms.",
                  f"RSS of the serve process: start {rss[0]:.0f} MB, min {min(rss):.0f}, max {max(rss):.0f}, end {rss[-1]:.0f}; "
                  f"second half min {min(half):.0f} / max {max(half):.0f} MB.",
                  f"SQLite files at the end: {report['db_files_mb']} (MB).",
                  f"Serve flags: {report.get('serve_flags') or 'none'} (with --gc-older-than the checkpoint files "
                  "should stop growing once pruning starts).",
                  "", "| t (s) | RSS (MB) | sessions done | checkpoint files (MB) |", "| ---: | ---: | ---: | ---: |"]
        dbs = s.get("checkpoint_mb_samples") or [float("nan")] * len(samples)
        rows = list(zip(samples, dbs))
        step = max(1, len(rows) // 20)
        for (t, m, n), mb in rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else []):
            lines.append(f"| {t:.0f} | {m:.0f} | {n} | {mb} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(json.load(open(sys.argv[1])), sys.argv[2] if len(sys.argv) > 2 else "(not given)"), end="")
