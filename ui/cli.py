"""The `routeweave` command. Sub-commands are found by registration: each package declares
`register(subparsers)` functions in the `routeweave.commands` entry-point group of its pyproject, and this
file only assembles them (so adding a command never means editing this file or naming a module here)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import warnings
from importlib.metadata import entry_points

COMMAND_GROUP = "routeweave.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routeweave",
        description="A small local LLM routes sub-questions to expert models under a cost budget.",
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("routeweave")
    except PackageNotFoundError:
        installed = "not installed (run `pip install -e .`)"
    parser.add_argument("--version", action="version", version=f"routeweave {installed}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)
    if not commands:
        parser.epilog = f"no sub-commands are registered under '{COMMAND_GROUP}': reinstall with `pip install -e .`"
    for ep in commands:
        ep.load()(sub)
    return parser


_python_format = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """routeweave's own warnings (such as agents' CpuContention) as one plain line; others as Python prints them."""
    if category.__module__.startswith("routeweave."):
        return f"warning: {message}\n"
    return _python_format(message, category, filename, lineno, line)


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = _format_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run() -> int:
    """The console script: ``main``, then leave without the interpreter's final garbage collections.

    At exit Python collects every module's objects again; after LiteLLM's import that is ~0.9 s of a
    command's wall time, for memory the process gives back anyway. Freezing the heap skips those passes
    only: reference counting still closes files and databases, and atexit handlers still run. Not in
    ``main``, which tests call in-process."""
    try:
        return main()
    except BrokenPipeError:  # `routeweave trace ID --json | head`: the reader left; no traceback (Python's recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:  # also when argparse or a command ends the process with SystemExit
        gc.freeze()


if __name__ == "__main__":
    raise SystemExit(run())
