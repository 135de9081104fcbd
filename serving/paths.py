"""Where routeweave keeps its files. In the user's data directory (`ROUTEWEAVE_DB` or
`$XDG_DATA_HOME/routeweave/`, default `~/.local/share/routeweave/`): the trace database `routeweave.db`
(sessions and steps), LangGraph's checkpoints in `routeweave.checkpoints.db` beside it (a separate file:
one writer per SQLite file), QA results in `evals.db`, and policies fitted for each pool under
`policies/`. Caches (the retrieval index) go to `ROUTEWEAVE_CACHE_DIR` or `$XDG_CACHE_HOME/routeweave/`."""

from __future__ import annotations

import os
from pathlib import Path


def default_db_path() -> Path:
    """The trace database."""
    if os.environ.get("ROUTEWEAVE_DB"):
        return Path(os.environ["ROUTEWEAVE_DB"]).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "routeweave" / "routeweave.db"


def data_dir() -> Path:
    """The folder of the trace database: checkpoints, eval results and fitted policies live beside it."""
    return default_db_path().parent


def default_cache_dir() -> Path:
    if os.environ.get("ROUTEWEAVE_CACHE_DIR"):
        return Path(os.environ["ROUTEWEAVE_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "routeweave"


def checkpoint_path(db_path: Path) -> Path:
    """LangGraph's checkpoints live beside the trace database: routeweave.db -> routeweave.checkpoints.db."""
    return db_path.with_name(db_path.stem + ".checkpoints" + (db_path.suffix or ".db"))


def lock_dir(db_path: Path) -> Path:
    """The SQLite data dir's session locks (serving/locks.py): routeweave.db -> routeweave.locks/."""
    return Path(db_path).with_name(Path(db_path).stem + ".locks")
