"""Settings read from the environment: read when used (never at import, so a bad value can't break a command
that doesn't use it), and a bad value is a ConfigError naming the variable and an example."""

from __future__ import annotations

import subprocess

import pytest

from routeweave.agents.errors import ConfigError, env_number
from routeweave.agents.local_server import ATTACH_ENV, ServerError, attached_servers
from routeweave.serving.locks import LEASE_ENV, LeaseLocks


@pytest.mark.parametrize("raw, error", [("30s", "must be a number >= 1"), ("0", "must be a number >= 1"),
                                        ("-5", "must be a number >= 1"), ("nan", "must be a number >= 1")])
def test_a_bad_lease_is_refused_with_the_variable_named(monkeypatch, raw, error):
    monkeypatch.setenv(LEASE_ENV, raw)
    with pytest.raises(ConfigError, match=error) as caught:
        LeaseLocks(pool=None)
    assert LEASE_ENV in str(caught.value) and repr(raw) in str(caught.value)


def test_the_lease_is_read_when_the_locks_are_made(monkeypatch):
    monkeypatch.setenv(LEASE_ENV, "12.5")
    assert LeaseLocks(pool=None).lease_s == 12.5
    monkeypatch.delenv(LEASE_ENV)
    assert LeaseLocks(pool=None).lease_s == 30.0


def test_whole_numbers_and_defaults(monkeypatch):
    monkeypatch.setenv("RW_TEST_N", "")
    assert env_number("RW_TEST_N", 20, minimum=1, integer=True) == 20
    monkeypatch.setenv("RW_TEST_N", "2.5")
    with pytest.raises(ConfigError, match=r"\$RW_TEST_N must be a whole number >= 1, got '2.5'"):
        env_number("RW_TEST_N", 20, minimum=1, integer=True)


@pytest.mark.parametrize("raw", ["[]", "not json", '"text"'])
def test_attached_servers_must_be_a_json_object(monkeypatch, raw):
    monkeypatch.setenv(ATTACH_ENV, raw)
    with pytest.raises(ServerError, match="must be a JSON object"):
        attached_servers()


def test_a_bad_value_in_a_variable_a_command_does_not_use_breaks_nothing(routeweave_cmd, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), LEASE_ENV: "30s", "ROUTEWEAVE_CHECKPOINTER_POOL_MAX": "x"}
    done = subprocess.run([*routeweave_cmd, "sessions", "--db", str(tmp_path / "none.db")], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 1 and "no trace database" in done.stderr and "Traceback" not in done.stderr
