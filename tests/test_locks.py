"""Session locks on SQLite data dirs (serving/locks.py): one runner per session, across processes and within
one, released by the kernel when the holder dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from routeweave.serving.locks import FileLocks, SessionBusy

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from routeweave.serving.locks import FileLocks
    FileLocks(Path(sys.argv[1])).acquire(sys.argv[2])
    print("held", flush=True)
    time.sleep(120)
""")


def test_one_runner_per_session_within_a_process(tmp_path):
    first, second = FileLocks(tmp_path / "rw.locks"), FileLocks(tmp_path / "rw.locks")
    first.acquire("s1")
    with pytest.raises(SessionBusy, match="already running in this process"):
        second.acquire("s1")
    second.acquire("s2")  # another session is free
    assert "this process" in second.holder("s1") and first.holder("s3") is None
    first.release("s1")
    second.acquire("s1")  # given back: free again
    assert sorted(p.name for p in (tmp_path / "rw.locks").iterdir()) == ["sessions.lock"]  # no file per session


def test_a_holder_in_another_process_is_named_and_its_death_frees_the_session(tmp_path):
    folder = tmp_path / "rw.locks"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), "s1"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        locks = FileLocks(folder)
        assert locks.holder("s1") == f"pid {holder.pid}" and locks.holder("s2") is None
        with pytest.raises(SessionBusy, match=f"being run by pid {holder.pid}"):
            locks.acquire("s1")
        locks.acquire("s2")
        locks.release("s2")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    locks.acquire("s1")  # kill -9 released it
    locks.release("s1")


def test_closing_gives_back_only_what_that_instance_took(tmp_path):
    first, second = FileLocks(tmp_path / "rw.locks"), FileLocks(tmp_path / "rw.locks")
    first.acquire("a")
    second.acquire("b")
    asyncio.run(first.close())
    assert first.holder("a") is None and "this process" in first.holder("b")
    second.acquire("a")


def test_engines_opened_and_closed_over_many_data_dirs_leave_no_descriptor_behind(tmp_path):
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    for i in range(50):
        locks = FileLocks(tmp_path / f"d{i}.locks")
        locks.acquire("s")
        asyncio.run(locks.close())
    assert open_fds() <= before + 1  # asyncio.run's own loop may leave one
    kept = FileLocks(tmp_path / "d0.locks")
    kept.acquire("s")  # closed files reopen on use
    assert "this process" in FileLocks(tmp_path / "d0.locks").holder("s")
