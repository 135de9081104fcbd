"""Policies register themselves by name; callers look them up by name. No if/else over names."""

from __future__ import annotations

import inspect
import json
import typing
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


class PolicyOptionError(ValueError):
    """An option a policy does not take, or a value of the wrong type for one it does: names the option, the
    value and the options the policy takes."""


def policy_options_of(name: str) -> dict[str, tuple[Any, Any]]:
    """The keyword options policy ``name`` takes (its own and those its base classes take through ``**base``):
    name -> (type annotation, ``Any`` where it cannot be resolved; default)."""
    out: dict[str, tuple[Any, Any]] = {}
    for klass in policy_class(name).__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # an annotation only importable for type checkers: the name check still holds
            hints = {}
        params = list(inspect.signature(init).parameters.values())[1:]
        for p in params:
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                out.setdefault(p.name, (hints.get(p.name, Any), p.default))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return out


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against what policy ``name`` takes: an unknown name or a value of the wrong type is
    a PolicyOptionError naming it and the policy's options; scalar values are returned as validated (JSON's 20
    for a float option becomes 20.0)."""
    from pydantic import TypeAdapter, ValidationError

    known = policy_options_of(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise PolicyOptionError(f"policy '{name}' has no option {', '.join(map(repr, unknown))}; it takes: "
                                f"{', '.join(sorted(known))}")
    out = dict(options)
    for key, value in options.items():
        hint = known[key][0]
        if hint is Any or value is None and known[key][1] is None:
            continue
        try:
            adapter = TypeAdapter(hint)
        except Exception:  # a protocol or class pydantic cannot describe (an encoder object): passed as given
            continue
        try:
            checked = adapter.validate_python(value)
        except ValidationError as exc:
            want = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "").replace("collections.abc.", "")
            raise PolicyOptionError(f"policy '{name}' option {key}={value!r}: expected {want} "
                                    f"({exc.errors()[0]['msg']})") from None
        if type(checked) in (int, float, str, bool):  # containers and objects are passed as given (a lazy mapping stays lazy)
            out[key] = checked
    return out


def get_policy(name: str, **options: Any) -> "Policy":
    """A new, unfitted policy. ``options`` are the policy's keyword arguments (seed, knob, k, ...), checked
    first: an option the policy does not take, or a value of the wrong type, is a PolicyOptionError."""
    return policy_class(name)(**check_options(name, options))


def load_policy(directory: str | Path, **options: Any) -> "Policy":
    """Load a saved policy of any kind: its name is read from ``policy.json``."""
    meta = json.loads((Path(directory) / "policy.json").read_text(encoding="utf-8"))
    return policy_class(meta["policy"]).load(directory, **options)
