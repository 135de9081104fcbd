"""`routeweave serve` under load, short and bounded: 1,000 concurrent Router-R1 sessions over real HTTP
on 127.0.0.1 against stub experts in their own process (benchmarks/load_serve.py), then a 10 s soak;
no error, the service alive, its memory flat. The full run with figures (and a 10-minute soak) is
benchmarks/results/load_serve.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "load_serve.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("routeweave_load_serve", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serve_takes_1000_concurrent_sessions_without_error_and_memory_stays_flat():
    bench = _load_bench()
    report = bench.run(1000, 1000, soak_seconds=10, soak_concurrency=50, sequential=5,
                       compare_in_process=False, sample_every=1.0, log=lambda *_: None)
    burst, soak = report["http_burst"], report["soak"]
    assert burst["errors"] == 0, burst["first_errors"]
    assert burst["ok"] == 1000
    assert soak["errors"] == 0, soak["first_errors"]
    assert soak["ok"] > 0
    assert report["serve_alive"]
    # Memory: no growth with the number of sessions served. After the 1,000-session burst the soak
    # serves more sessions again; RSS must not climb by more than a small margin over that.
    rss = [m for _, m, _ in soak["rss_samples"]]
    assert max(rss) < report["rss_after_burst_mb"] * 1.25 + 50, (report["rss_after_burst_mb"], rss)
