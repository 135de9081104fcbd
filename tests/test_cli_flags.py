"""One vocabulary for the databases across every command: `--trace-db` is always the trace (and checkpoint)
database, `--results-db` always a results database, and each command's short `--db` is an alias of the one
it means. Walked over every registered command, so a new command that adds a `--db` without saying which
database it is fails here."""

from __future__ import annotations

import argparse
import os

import pytest

from routeweave.ui.cli import build_parser

TRACE, RESULTS = "--trace-db", "--results-db"


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, prefix + (name,))
    if prefix:
        yield prefix, parser


def db_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings
            if flag in ("--db", TRACE, RESULTS)}


ALL = [(" ".join(path), sub) for path, sub in commands(build_parser()) if db_options(sub)]


def test_the_walk_finds_the_commands_with_databases():
    names = {name for name, _ in ALL}
    assert {"ask", "trace", "serve", "chat", "gc", "resume", "sessions", "replay", "fit", "eval qa", "eval report",
            "eval routing", "train data"} <= names


@pytest.mark.parametrize("name,parser", ALL, ids=[name for name, _ in ALL])
def test_every_database_option_says_which_database_it_is(name, parser):
    options = db_options(parser)
    if "--db" in options:
        short = options["--db"]
        assert {TRACE, RESULTS} & set(short.option_strings), f"`{name} --db` names neither database"
    for flag in (TRACE, RESULTS):
        if flag in options:
            other = RESULTS if flag == TRACE else TRACE
            assert other not in options[flag].option_strings, f"`{name}`: one option is both databases"


HELPLESS = [(" ".join(path), flag) for path, sub in commands(build_parser()) for action in sub._actions
            if action.option_strings and action.dest != "help" and not action.help for flag in action.option_strings[:1]]


def test_every_option_of_every_command_says_what_it_does():
    assert len(list(commands(build_parser()))) > 20, "the walk found too few commands"
    assert not HELPLESS, f"options without a help text (`--help` shows them bare): {HELPLESS}"


def test_commands_that_start_no_model_do_not_import_litellm():
    """LiteLLM's import is ~2 s of every command's start: `--help` (every command's parser) and the trace store
    must not pay it; only a command that starts a model does."""
    import subprocess
    import sys

    code = ("import sys; from routeweave.ui.cli import build_parser; from routeweave.serving import TraceStore, "
            "default_db_path; build_parser(); print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False", "a command module imports LiteLLM at import time"


def test_the_console_script_skips_the_final_collections_and_main_does_not(tmp_path):
    """`routeweave` (the console script, ``run``) leaves with the heap frozen, so the interpreter's exit does
    not collect LiteLLM's module graph again (~0.9 s of every command that called a model), also when a
    command ends in SystemExit; ``main``, which tests call in-process, leaves the collector alone."""
    import subprocess
    import sys

    probe = ("import atexit, gc, sys; from routeweave.ui import cli; "
             "atexit.register(lambda: print('frozen' if gc.get_freeze_count() else 'live', flush=True)); "
             "sys.argv = ['routeweave', *sys.argv[1:]]; entry = cli.run if sys.argv[1] != 'main' else cli.main; "
             "sys.argv.pop(1); sys.exit(entry())")
    for how, args, want in (("run", ["sessions", "--limit", "1"], "frozen"), ("run", ["ask"], "frozen"),
                            ("main", ["sessions", "--limit", "1"], "live")):
        out = subprocess.run([sys.executable, "-c", probe, how, *args], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "ROUTEWEAVE_DB": str(tmp_path / "t.db")})
        assert out.stdout.strip().splitlines()[-1] == want, (how, args, out.stdout, out.stderr[-1500:])


@pytest.mark.parametrize("argv, needle", [
    (["serve", "--max-sessions", "-1"], "--max-sessions: must be at least 0 (0: no cap), got -1"),
    (["serve", "--max-body", "0"], "--max-body: must be at least 1, got 0"),
    (["serve", "--workers", "0"], "--workers: must be at least 1, got 0"),
    (["serve", "--gc-every", "0"], "--gc-every: must be at least 1, got 0"),
    (["chat", "--port", "-3"], "--port: must be at least 0 (0 picks a free port), got -3"),
    (["serve", "--max-sessions", "two"], "--max-sessions: must be a whole number, got 'two'"),
])
def test_serve_flags_out_of_range_are_usage_errors_before_anything_starts(capsys, argv, needle):
    # before: --max-sessions -1 answered every request with a 429, --max-body 0 every one with a 413
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(argv)
    assert done.value.code == 2 and needle in capsys.readouterr().err


def test_version_names_the_installed_package(capsys):
    from importlib.metadata import version

    from routeweave.ui.cli import build_parser

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"routeweave {version('routeweave')}"


def test_every_graph_is_named_in_the_help_of_each_graph_flag():
    """Help texts list the graphs by hand (building them from the registry would import every graph for every
    command): a graph added without its name there fails here."""
    from routeweave.graphs import graph_names

    flags = [(name, a) for name, parser in commands(build_parser()) for a in parser._actions if "--graph" in a.option_strings]
    assert len(flags) >= 2, flags  # ask and eval qa at least
    for name, action in flags:
        missing = [g for g in graph_names() if g not in action.help]
        assert not missing, f"`routeweave {' '.join(name)} --graph` help lacks {missing}: {action.help!r}"
