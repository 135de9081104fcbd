"""The listings the commands print (`routeweave sessions`, `routeweave eval report`): a table whose columns line up,
its last column left free to run long, and the local minute a stored timestamp names."""

from __future__ import annotations

import time
from collections.abc import Sequence


def aligned(lines: Sequence[Sequence[str]]) -> str:
    """The rows (a header first) with every column but the last padded to its widest cell."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1] for line in lines)


def minute(timestamp: float | None) -> str:
    """`2026-11-28 14:05` in local time, or `?` for a row that has none."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "?"
