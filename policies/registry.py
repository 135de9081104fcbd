"""Policies register themselves by name; callers look them up by name. No if/else over names."""

from __future__ import annotations

import difflib
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
        from .base import Policy

        if not (isinstance(cls, type) and issubclass(cls, Policy)):
            raise TypeError(f"@register('{name}') decorates {getattr(cls, '__qualname__', cls)!r}, which is not a "
                            "Policy: derive it from routeweave.policies.Policy (policies/base.py)")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"policy name '{name}' is already registered by {_REGISTRY[name].__name__}")
        if inspect.isabstract(cls):
            raise TypeError(_abstract_message(name, cls))
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls

    return deco


def _abstract_message(name: str, cls: type) -> str:
    """Which abstract methods policy class ``cls`` leaves unimplemented, each with its signature and contract,
    and a close spelling the class does define (``score`` for ``scores``)."""
    lines = []
    for method in sorted(cls.__abstractmethods__):  # type: ignore[attr-defined]
        abstract = getattr(cls, method)
        doc = (inspect.getdoc(abstract) or "").split("\n")[0]
        near = difflib.get_close_matches(method, [k for k in vars(cls) if not k.startswith("__")], n=1)
        signature = str(inspect.signature(abstract)).replace("'", "")  # annotations are strings here
        lines.append(f"  def {method}{signature}: {doc}"
                     + (f" (the class defines '{near[0]}': a misspelling?)" if near else ""))
    return (f"policy '{name}' ({cls.__module__}.{cls.__qualname__}) cannot be built: it does not implement "
            f"{', '.join(sorted(cls.__abstractmethods__))}. Define in {cls.__qualname__}:\n"  # type: ignore[attr-defined]
            + "\n".join(lines))


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
    return class_options(policy_class(name))


def class_options(cls: type) -> dict[str, tuple[Any, Any]]:
    """``policy_options_of`` for a policy class (registered or not)."""
    out: dict[str, tuple[Any, Any]] = {}
    for klass in cls.__mro__:
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


def unsaved_options(policy: "Policy", given: dict[str, Any]) -> str | None:
    """Why ``Policy.save`` would lose options: ``load`` rebuilds a policy as ``cls(seed, knob, **params)``, so
    every constructor option ``given`` a value other than its default must be in ``policy.params`` (objects
    such as encoders are handed in again at load and need not be), and every key of params must be an option."""
    cls, known = type(policy), class_options(type(policy))
    lost = {k: v for k, v in given.items() if k in known and k not in ("seed", "knob") and k not in policy.params
            and _jsonable(v) and v != known[k][1]}
    stray = sorted(set(policy.params) - set(known))
    if not lost and not stray:
        return None
    where = f"{cls.__module__}.{cls.__qualname__}.__init__"
    if lost:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(lost.items()))
        return (f"policy '{policy.name}' was built with {shown}, but its params do not record "
                f"{'it' if len(lost) == 1 else 'them'}, so save/load would rebuild it with the default: in {where}, "
                f"add {', '.join(f'self.params[{k!r}] = {k}' for k in sorted(lost))}")
    return (f"policy '{policy.name}' params hold {', '.join(map(repr, stray))}, which {where} does not take, so load "
            f"could not rebuild it from them: keep in self.params only the constructor's options "
            f"({', '.join(sorted(known))}); save other state in _state_json/_state_arrays")


def _jsonable(value: Any) -> bool:
    """A setting params would carry: a JSON scalar or a list of them (a mapping such as a stack's `sources`
    holds objects handed in again at load, even when empty)."""
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, (list, tuple)) and all(isinstance(v, scalar) for v in value))


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
    first: an option the policy does not take, or a value of the wrong type, is a PolicyOptionError; so is a
    TypeError its constructor raises on them (a required option not given, one given twice)."""
    cls = policy_class(name)
    checked = check_options(name, options)
    try:
        return cls(**checked)
    except TypeError as exc:
        raise PolicyOptionError(options_failed(cls, checked, exc)) from exc


def options_failed(cls: type, options: dict[str, Any], exc: TypeError) -> str:
    """The message of a TypeError policy class ``cls``'s constructor raised on ``options``."""
    given = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items())) or "no options"
    return (f"policy '{getattr(cls, 'name', '')}' cannot be built with {given}: {exc}. It takes: "
            f"{', '.join(sorted(class_options(cls)))}; "
            f"see {cls.__module__}.{cls.__qualname__}.__init__")


def load_policy(directory: str | Path, **options: Any) -> "Policy":
    """Load a saved policy of any kind: its name is read from ``policy.json``."""
    meta = json.loads((Path(directory) / "policy.json").read_text(encoding="utf-8"))
    return policy_class(meta["policy"]).load(directory, **options)
