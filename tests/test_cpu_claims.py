"""Two routeweave processes on one machine: each sees the other's embedded llama.cpp servers.

Real processes, real servers: a `routeweave serve` whose server takes every core runs while this process
(and a second `serve`) start theirs; both are warned, with the first's pid and how to share its server; the
first is killed with SIGKILL, and its record is then found stale and removed, and nobody is warned."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import warnings

import pytest
from routeweave.agents.cpu_claims import CpuContention, live_claims
from routeweave.agents.local_server import ServerFleet
from routeweave.agents.pool import POOLS_DIR, load_pool
from support.serve import ServeProcess

pytestmark = [pytest.mark.server, pytest.mark.slow]
CORES = os.cpu_count() or 1


def serving(folder, pool) -> ServeProcess:
    """A real `routeweave serve` (tests/support), once it answers: uvicorn's SIGTERM handler is installed by then."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = ServeProcess(folder, pool=pool, args=["--no-ui"]).start()
    for _ in range(200):
        try:
            with urllib.request.urlopen(proc.url + "/healthz", timeout=2):
                return proc
        except OSError:
            time.sleep(0.05)
    return proc


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEWEAVE_RUN_DIR", str(tmp_path / "run"))
    # the default mode (warn) unless a test sets it: with ROUTEWEAVE_CPU=wait in the caller's environment (as when
    # tests run beside other jobs), a test that holds every core on purpose waited for itself
    monkeypatch.delenv("ROUTEWEAVE_CPU", raising=False)
    return tmp_path / "run"


@pytest.fixture
def busy(run_dir):
    """Another process holding every core through cpu_job (as `routeweave train sft` does), until the test ends."""
    env = {**os.environ, "ROUTEWEAVE_RUN_DIR": str(run_dir)}
    code = (f"import sys, time\nfrom routeweave.agents.cpu_claims import cpu_job\nwith cpu_job('train sft', {CORES}):\n"
            "    print('ready', flush=True)\n    time.sleep(600)\n")
    other = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        yield other
    finally:
        other.kill()
        other.wait(timeout=30)
        other.stdout.close()


def test_a_second_process_is_warned_and_a_killed_ones_record_is_dropped(run_dir, tmp_path, rw_home):
    every_core = tmp_path / "every-core.toml"  # the embedded pool, its server taking all the cores
    every_core.write_text(re.sub(r"(?m)^threads = 2", f"threads = {CORES}", (POOLS_DIR / "embedded.toml").read_text()))
    first = serving(tmp_path / "first", every_core)  # ROUTEWEAVE_RUN_DIR reaches it through os.environ
    try:
        [theirs] = live_claims()
        assert theirs.pid == first.proc.pid and theirs.threads == CORES and "serve" in theirs.command

        fleet = ServerFleet(load_pool("embedded"))  # the same model and adapters, fewer threads
        with pytest.warns(CpuContention) as caught:
            fleet.start()
        try:
            message = str(caught[0].message)
            assert f"pid {first.proc.pid}" in message and f"{CORES} thread(s)" in message
            attach = json.loads(re.search(r"ROUTEWEAVE_ATTACH_SERVERS='(.*?)'", message).group(1))
            assert attach == {"local": theirs.base_url}  # it can share the running server instead
            assert {c.pid for c in live_claims()} == {first.proc.pid, os.getpid()}
        finally:
            fleet.close()
        assert [c.pid for c in live_claims()] == [first.proc.pid]  # a clean stop removes its record

        second = serving(tmp_path / "second", "embedded")  # the CLI says it in one plain line
        second.stop()  # SIGTERM
        out = "".join(second.output)
        assert second.proc.returncode == 0 and "warning: other routeweave processes on this machine run embedded" in out
        assert "Traceback" not in out and "CpuContention" not in out
        assert [c.pid for c in live_claims()] == [first.proc.pid]  # a stopped serve removes its record
    finally:
        first.proc.kill()  # SIGKILL
        first.proc.wait(timeout=30)

    assert len(list(run_dir.glob("*.json"))) == 1  # the killed process could not remove its record...
    assert live_claims() == [] and not list(run_dir.glob("*.json"))  # ...and its free lock says it is stale
    fleet = ServerFleet(load_pool("embedded"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CpuContention)
        fleet.start()
    fleet.close()


def test_the_persistent_feature_server_is_recorded_and_never_offered_to_share(run_dir):
    """causal_llm's feature server (in-process, no HTTP) counts its threads for the others, without an address."""
    pytest.importorskip("gguf", reason="the router-features extra")
    from routeweave.agents.features import LlamaFeatures

    features = LlamaFeatures(layers=4, threads=1, persistent=True)
    try:
        features.embed(["What is the capital of Peru?"])
        [record] = live_claims()
        assert record.pid == os.getpid() and record.server == "features" and record.threads == 1
        assert record.base_url == ""
    finally:
        features.close()
    assert live_claims() == []


def test_a_training_job_is_recorded_and_warned_like_a_server_and_never_offered_to_share(busy, run_dir, tmp_path,
                                                                                        routeweave_cmd):
    """`routeweave train sft|grpo` runs under cpu_job: torch's threads count like a server's, in both directions."""
    from routeweave.agents.cpu_claims import cpu_job

    with pytest.warns(CpuContention) as caught:
        with cpu_job("train grpo", 1):
            assert {c.pid for c in live_claims()} == {busy.pid, os.getpid()}
    message = str(caught[0].message)
    assert f"pid {busy.pid}" in message and "ROUTEWEAVE_ATTACH_SERVERS" not in message
    assert [c.pid for c in live_claims()] == [busy.pid]  # released when the job ends
    sft = subprocess.run([*routeweave_cmd, "train", "sft", "--work", str(tmp_path)], capture_output=True, text=True,
                         env={**os.environ, "ROUTEWEAVE_RUN_DIR": str(run_dir)}, timeout=300)
    assert sft.returncode == 2 and f"pid {busy.pid}" in sft.stderr and "warning: other routeweave" in sft.stderr
    busy.kill()
    busy.wait(timeout=30)
    assert live_claims() == []


def test_offline_feature_batches_are_warned_and_recorded(busy):
    """`fit` and `eval routing` embed causal_llm's features in batches, each starting a llama.cpp server."""
    pytest.importorskip("gguf", reason="the router-features extra")
    from routeweave.agents.features import LlamaFeatures

    with pytest.warns(CpuContention, match=f"pid {busy.pid}"):
        assert len(LlamaFeatures(layers=4, threads=1).embed(["What is the capital of Peru?"])) == 1
    assert [c.pid for c in live_claims()] == [busy.pid]


def test_wait_mode_starts_only_when_the_cores_are_free_and_queued_jobs_never_overlap(busy, run_dir, tmp_path):
    """ROUTEWEAVE_CPU=wait: two jobs that each need every core wait behind a busy process, then run one at a time."""
    log = tmp_path / "log"
    code = ("import sys, time\nfrom routeweave.agents.cpu_claims import cpu_job\n"
            f"with cpu_job('job', {CORES}):\n"
            f"    open({str(log)!r}, 'a').write(f'start {{time.time()}}\\n')\n    time.sleep(1.0)\n"
            f"    open({str(log)!r}, 'a').write(f'end {{time.time()}}\\n')\n")
    env = {**os.environ, "ROUTEWEAVE_RUN_DIR": str(run_dir), "ROUTEWEAVE_CPU": "wait"}
    jobs = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(3.0)
    assert not log.exists(), "a job started while another process held every core"
    busy.kill()
    errs = [j.communicate(timeout=120)[1] for j in jobs]
    assert [j.returncode for j in jobs] == [0, 0], errs
    assert sum("waiting for the cores" in e for e in errs) >= 1  # said why it waited
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"], events  # one after the other


def test_a_bad_cpu_mode_is_a_clear_error(run_dir, monkeypatch):
    from routeweave.agents.cpu_claims import cpu_job
    from routeweave.agents.errors import ConfigError

    monkeypatch.setenv("ROUTEWEAVE_CPU", "sometimes")
    with pytest.raises(ConfigError, match=r"\$ROUTEWEAVE_CPU must be 'warn' .* or 'wait'"):
        with cpu_job("job", 1):
            pass


def test_waiters_take_turns_while_one_is_starting(run_dir, tmp_path, monkeypatch):
    """A waiter holds its turn until its servers or job are recorded: another one does not look meanwhile, even
    with the cores free (else both could see the same free cores and start together)."""
    from routeweave.agents.cpu_claims import admission

    monkeypatch.setenv("ROUTEWEAVE_CPU", "wait")
    entered = tmp_path / "entered"
    code = ("import time\nfrom routeweave.agents.cpu_claims import cpu_job\n"
            f"with cpu_job('job', 1):\n    open({str(entered)!r}, 'w').write(str(time.time()))\n")
    with admission({"starting": 1}):
        other = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "ROUTEWEAVE_RUN_DIR": str(run_dir)},
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(3.0)  # it has long since imported and asked for its turn
        assert not entered.exists(), "another waiter went ahead while this one was starting"
        left = time.time()
    err = other.communicate(timeout=60)[1]
    assert other.returncode == 0 and float(entered.read_text()) >= left
    assert "another routeweave process is queued for them first" in err  # it said why it waited, not silent


def test_wait_mode_holds_a_pools_servers_until_the_cores_are_free(busy, monkeypatch):
    """`ROUTEWEAVE_CPU=wait routeweave eval qa …` behind a job that holds every core: its servers start after it."""
    import threading

    monkeypatch.setenv("ROUTEWEAVE_CPU", "wait")
    fleet = ServerFleet(load_pool("embedded"))
    started = threading.Event()
    thread = threading.Thread(target=lambda: (fleet.start(), started.set()), daemon=True)
    with pytest.warns(CpuContention, match="waiting for the cores"):
        thread.start()
        assert not started.wait(3.0), "the servers started while another process held every core"
        busy.kill()
        busy.wait(timeout=30)
        assert started.wait(60.0)
    try:
        assert [c.pid for c in live_claims()] == [os.getpid()]
    finally:
        fleet.close()
