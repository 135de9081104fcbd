"""Files written whole or not at all: a temporary file beside the target, renamed over it when complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MODE = 0o644  # what open() gives under the usual umask: mkstemp's 0600 would hide the file from its group


def temp_beside(path: Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file in `path`'s folder (created), readable as a normal file is; rename it
    over `path` with os.replace once it is complete, so a half-written file never has the name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, MODE)
    return fd, tmp
