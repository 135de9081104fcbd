"""What the commands print: listings (`routeweave sessions`, `routeweave eval report`) whose columns line up,
their last column left free to run long, the local minute a stored timestamp names, and `--json` output
without binary float noise."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any


def aligned(lines: Sequence[Sequence[str]]) -> str:
    """The rows (a header first) with every column but the last padded to its widest cell."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1] for line in lines)


def minute(timestamp: float | None) -> str:
    """`2026-11-28 14:05` in local time, or `?` for a row that has none."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "?"


def tidy(value: Any) -> Any:
    """`value` with every float rounded to 12 significant digits (2.5900000000000003e-05 -> 2.59e-05): what a
    price times a token count means, without the noise of its binary sum; far below a billed cent."""
    if isinstance(value, float):
        return float(f"{value:.12g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: tidy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy(v) for v in value]
    return value


def json_text(value: Any, **kwargs: Any) -> str:
    """json.dumps of `value` tidied (the commands' `--json`)."""
    return json.dumps(tidy(value), **kwargs)
