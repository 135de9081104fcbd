"""Two routeweave processes on one machine: each with its own embedded server, or one sharing the other's.

Each worker is a separate process that runs the embedded pool's servers (ServerFleet, as `ask` and `serve`
do) and sends the same fixed completions (SmolLM2, `ignore_eos`, so every run generates the same tokens)
one after another to its server, and reports tokens per second. Three set-ups in one run:

  alone     one worker
  two       two workers at once, each its own 2-thread server (what two commands did before anyone was warned)
  shared    two workers at once, the second attached to the first's server (ROUTEWEAVE_ATTACH_SERVERS,
            what the warning of agents/cpu_claims.py advises)

    python benchmarks/cpu_contention.py [--calls 8] [--out benchmarks/results/cpu_contention.md]

The ratio that matters: the machine's tokens/s with two processes against one process alone."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROMPTS = ["Who wrote the novel Moby-Dick?", "What is the capital of Peru?", "When was the Eiffel Tower finished?",
           "Name a poet born in England in 1923."]


def worker(calls: int, start_at: float, ready: Path) -> None:
    """One process: its servers (or the attached ones), then `calls` completions from `start_at` on."""
    from routeweave.agents.local_server import ServerFleet
    from routeweave.agents.pool import load_pool

    fleet = ServerFleet(load_pool("embedded")).start()
    try:
        base = fleet.base_urls()["local"]
        ready.write_text(base)
        time.sleep(max(0.0, start_at - time.time()))
        tokens, t0 = 0, time.perf_counter()
        for i in range(calls):
            body = {"model": "x", "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    "max_tokens": 64, "temperature": 0, "ignore_eos": True}
            req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=600) as resp:
                usage = json.loads(resp.read())["usage"]
            tokens += usage["prompt_tokens"] + usage["completion_tokens"]
        print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - t0}))
    finally:
        fleet.close()


def run(n: int, calls: int, *, share: bool, tmp: Path) -> list[dict]:
    """n workers at once (with share, all but the first attach to the first's server)."""
    start_at = time.time() + 8.0
    env = {**os.environ, "ROUTEWEAVE_RUN_DIR": str(tmp / "run")}
    procs, readies = [], []
    for i in range(n):
        ready = tmp / f"ready-{time.time_ns()}-{i}"
        if share and i > 0:
            while not readies[0].exists():
                time.sleep(0.05)
            env = {**env, "ROUTEWEAVE_ATTACH_SERVERS": json.dumps({"local": readies[0].read_text()})}
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", str(calls), str(start_at), str(ready)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        readies.append(ready)
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main() -> int:
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=8, help="completions per worker (default 8)")
    ap.add_argument("--out", type=Path, help="write the Markdown table here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, n, share in (("alone", 1, False), ("two", 2, False), ("shared", 2, True)):
            done = run(n, args.calls, share=share, tmp=Path(tmp))
            wall = max(d["seconds"] for d in done)
            rows.append((label, n, [d["tokens"] / d["seconds"] for d in done], sum(d["tokens"] for d in done) / wall))
            print(f"{label}: per process {[round(t, 1) for t in rows[-1][2]]} tok/s, machine {rows[-1][3]:.1f} tok/s",
                  file=sys.stderr)
    alone = rows[0][3]
    lines = [f"Two processes on one machine ({os.cpu_count()} cores), `python benchmarks/cpu_contention.py "
             f"--calls {args.calls}`: each process runs the embedded pool's server (2 threads) and sends {args.calls} "
             "SmolLM2 completions (64 generated tokens each, `ignore_eos`) one after another.", "",
             "| set-up | processes | tokens/s of each | tokens/s of the machine | vs one process alone |",
             "|---|---|---|---|---|"]
    for label, n, each, machine in rows:
        lines.append(f"| {label} | {n} | {', '.join(f'{t:.1f}' for t in each)} | {machine:.1f} | {machine / alone:.2f}× |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
