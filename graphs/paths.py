"""Where routeweave keeps its files: one SQLite database (checkpoints + traces) in the user's data
directory, and caches (the retrieval index) in the user's cache directory. Both overridable."""

from __future__ import annotations

import os
from pathlib import Path


def default_db_path() -> Path:
    if os.environ.get("ROUTEWEAVE_DB"):
        return Path(os.environ["ROUTEWEAVE_DB"]).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "routeweave" / "routeweave.db"


def default_cache_dir() -> Path:
    if os.environ.get("ROUTEWEAVE_CACHE_DIR"):
        return Path(os.environ["ROUTEWEAVE_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "routeweave"


def checkpoint_path(db_path: Path) -> Path:
    """LangGraph's checkpoints live beside the trace database: routeweave.db -> routeweave.checkpoints.db."""
    return db_path.with_name(db_path.stem + ".checkpoints" + (db_path.suffix or ".db"))
