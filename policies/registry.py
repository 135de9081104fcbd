"""Policies register themselves by name; callers look them up by name. No if/else over names."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from .base import Policy

_REGISTRY: dict[str, type["Policy"]] = {}
T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"policy name '{name}' is already registered by {_REGISTRY[name].__name__}")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return deco


def _ensure_loaded() -> None:
    from . import _all  # noqa: F401  (imports every policy module once, which registers them)


def policy_names(include_eval_only: bool = True) -> list[str]:
    _ensure_loaded()
    return sorted(n for n, c in _REGISTRY.items() if include_eval_only or not c.eval_only)


def policy_class(name: str) -> type["Policy"]:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown policy '{name}'; known: {', '.join(sorted(_REGISTRY))}") from None


def get_policy(name: str, **options: Any) -> "Policy":
    """A new, unfitted policy. ``options`` are the policy's keyword arguments (seed, knob, k, ...)."""
    return policy_class(name)(**options)


def load_policy(directory: str | Path, **options: Any) -> "Policy":
    """Load a saved policy of any kind: its name is read from ``policy.json``."""
    meta = json.loads((Path(directory) / "policy.json").read_text(encoding="utf-8"))
    return policy_class(meta["policy"]).load(directory, **options)
