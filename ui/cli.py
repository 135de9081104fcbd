"""The `routeweave` command. Each sub-command lives in its own module that exposes `register(subparsers)`;
this file only assembles them, so adding a command never means editing a chain of ifs."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

# module path -> exposes register(subparsers) that adds one or more sub-commands with set_defaults(run=...)
COMMAND_MODULES = (
    "routeweave.ui.ask_cmd",
    "routeweave.ui.serve_cmd",
    "routeweave.evals.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routeweave",
        description="A small local LLM routes sub-questions to expert models under a cost budget.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for entry in importlib.metadata.entry_points(group="routeweave.commands"):  # e.g. train (the 'train' extra)
        entry.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    raise SystemExit(main())
