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


def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`-n 2 --dist loadgroup`, the default in pyproject), the tests that start the
    embedded llama.cpp server or train run one after another on one worker: two llama.cpp servers of 2
    threads each on a 2-core machine would slow both to a crawl. Everything else is spread over workers."""
    for item in items:
        if item.get_closest_marker("server") or item.get_closest_marker("train"):
            item.add_marker(pytest.mark.xdist_group("cpu-heavy"))
