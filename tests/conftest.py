import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def rw_home(tmp_path_factory) -> Path:
    """A private data and cache directory for the whole test session."""
    home = tmp_path_factory.mktemp("routeweave-home")
    os.environ["ROUTEWEAVE_DB"] = str(home / "routeweave.db")
    os.environ["ROUTEWEAVE_CACHE_DIR"] = str(home / "cache")
    return home


@pytest.fixture(scope="session")
def routeweave_cmd() -> list[str]:
    return [sys.executable, "-m", "routeweave.ui.cli"]

