"""A `routeweave` command's wall time, as the shell sees it: the console script (`cli.run`, which leaves
with the heap frozen) against the same command through `cli.main` (the interpreter's final garbage
collections included), alternated in one run. The command is `routeweave ask` on the test suite's mock
pool (LiteLLM's `mock_response`: LiteLLM is imported and called, no llama.cpp server, no network), so
what differs is the exit, not a model.

    python benchmarks/cli_wall.py [--runs 7]
Result: benchmarks/results/cli_wall.md."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/support: the mock pool

PROBE = "import sys; from routeweave.ui import cli; sys.exit(getattr(cli, sys.argv.pop(1))())"


def wall(entry: str, args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, entry, *args], capture_output=True, text=True, env=env,
                         timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"{entry} {args} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs of each entry point, alternated (default 7)")
    args = parser.parse_args()
    from tests.support.serve import MOCK_POOL

    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "mock.toml"
        pool.write_text(MOCK_POOL, encoding="utf-8")
        env = {**os.environ, "ROUTEWEAVE_DB": str(Path(tmp) / "traces.db")}
        command = ["ask", "When was the Eiffel Tower finished?", "--pool", str(pool)]
        times: dict[str, list[float]] = {"main": [], "run": []}
        wall("run", command, env)  # warm the page cache and the database once
        for _ in range(args.runs):
            for entry in times:
                times[entry].append(wall(entry, command, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"`python benchmarks/cli_wall.py --runs {args.runs}`: `routeweave ask` on the mock pool, "
          f"{args.runs} runs each, alternated\n")
    print("| entry point | median s | min s | max s |\n|---|---:|---:|---:|")
    for entry, label in (("main", "`cli.main` (exit with the final collections)"),
                         ("run", "`cli.run`, the console script (heap frozen at exit)")):
        v = times[entry]
        print(f"| {label} | {med[entry]:.2f} | {min(v):.2f} | {max(v):.2f} |")
    print(f"\nratio run / main: **{med['run'] / med['main']:.2f}** ({med['main'] - med['run']:.2f} s saved per command)")


if __name__ == "__main__":
    main()
