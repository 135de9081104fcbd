"""Shared bits of the training tests: skip (or fail, in CI) without the 'train' extra, and the data."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MISSING = [m for m in ("torch", "transformers", "trl", "peft", "gguf") if importlib.util.find_spec(m) is None]


def require_train_extra():
    if MISSING:
        if os.environ.get("ROUTEWEAVE_REQUIRE_TRAIN"):
            pytest.fail(f"the 'train' extra is required here but {', '.join(MISSING)} is missing")
        pytest.skip(f"the 'train' extra is not installed ({', '.join(MISSING)} missing)")


def require_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not next to the repo")
