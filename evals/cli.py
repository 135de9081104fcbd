"""`routeweave eval ...`: offline routing evaluation and multi-hop QA runs.

Each evaluation family registers its own sub-commands under `eval`."""

from __future__ import annotations

import importlib

FAMILIES = (
    "routeweave.evals.routing.cli",  # eval routing
    "routeweave.evals.qa.cli",  # eval qa, eval report
)


def register(sub) -> None:
    parser = sub.add_parser("eval", help="evaluate routing policies offline, or run multi-hop QA benchmarks")
    family_sub = parser.add_subparsers(dest="eval_command", metavar="EVAL")
    for name in FAMILIES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # that family is not built yet
        module.register(family_sub)
