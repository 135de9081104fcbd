"""`routeweave eval ...`: offline routing evaluation and multi-hop QA runs.

Each evaluation family registers its own sub-commands under `eval`."""

from __future__ import annotations

from .qa import cli as qa_cli  # eval qa, eval report
from .routing import cli as routing_cli  # eval routing

FAMILIES = (routing_cli, qa_cli)


def register(sub) -> None:
    parser = sub.add_parser("eval", help="evaluate routing policies offline, or run multi-hop QA benchmarks")
    family_sub = parser.add_subparsers(dest="eval_command", metavar="EVAL")
    for family in FAMILIES:
        family.register(family_sub)
