"""Expert kinds: one module per kind (its settings model and its client), joined here in one registry.

Add a kind (here `calculator`) in four steps:

1. Write `agents/experts/calculator.py`: a settings model, a client and `KIND`, the kind's registration.

    from typing import Literal

    from ..records import CallRecord, Cost
    from .base import ExpertContext, ExpertKind, ExpertSettings


    class CalculatorSettings(ExpertSettings):  # name, description, enabled... come from ExpertSettings
        kind: Literal["calculator"]  # what a pool file writes as `kind = ...`: the same as KIND's name
        digits: int = 6  # the kind's own fields, set in the pool file


    class Calculator:
        def __init__(self, settings: CalculatorSettings, context: ExpertContext):
            self.name, self.settings = settings.name, settings

        def reservation(self, query: str) -> Cost:  # the most one call may cost, reserved before it runs
            return Cost()

        async def ask(self, query: str, *, question: str = "") -> CallRecord:
            try:  # never raise for the expert's own failure: say it in the record's `error`
                total = sum(float(term) for term in query.split("+"))
            except ValueError:
                return CallRecord(who=self.name, error=f"not a sum of numbers: {query!r}")
            return CallRecord(who=self.name, text=f"{total:.{self.settings.digits}g}")


    KIND = ExpertKind("calculator", CalculatorSettings, Calculator, "adds numbers exactly",
                      example={"name": "Calc", "kind": "calculator", "description": "adds numbers"},
                      contract_query="2 + 3")  # the default, "Who wrote Dracula?", is no sum

   `example` is a minimal working `[[experts]]` entry; `contract_query` (optional) is what the contract test
   asks it, and it must get a reply without an error.

2. Register it: add "calculator" to `KIND_MODULES` below. A misspelt name, a module without `KIND`, a
   `KIND` missing a field or a settings `kind` other than KIND's name fails `import routeweave.agents.pool`
   with an ExpertKindError that says which.

3. Pool files may now use it (the pool's union of expert settings, the runtime and every graph pick it up):

    [[experts]]
    name = "Calc"
    kind = "calculator"
    digits = 6
    description = "Adds numbers exactly: ask it '2 + 3'."

4. tests/test_expert_kinds.py::test_kind_contract runs over every registered kind: its `example` loads in a
   pool, `contract_query` is answered within its reservation, the router's prompt lists it, and a
   single-shot session gets an answer from it. Run
   `ROUTEWEAVE_CPU=wait python -m pytest tests/test_expert_kinds.py -k calculator`, then add tests of the
   kind's own promises."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import Discriminator, Tag

from ..errors import ConfigError
from .base import ExpertClient, ExpertContext, ExpertKind, ExpertSettings

KIND_MODULES = ("llm", "retrieval", "python")
DEFAULT_KIND = "llm"  # pool files may leave `kind` out for a chat model
RECIPE = "the recipe is in agents/experts/__init__.py's docstring"

__all__ = ["DEFAULT_KIND", "ExpertClient", "ExpertContext", "ExpertKind", "ExpertKindError", "ExpertSettings",
           "build_expert", "expert_kinds", "settings_union"]


class ExpertKindError(RuntimeError):
    """A kind module that cannot be registered (a bug in the code, not in a pool file); says what to fix."""


@lru_cache(maxsize=1)
def expert_kinds() -> dict[str, ExpertKind]:
    """Every registered kind by name (its module imported once, on first use)."""
    found: dict[str, ExpertKind] = {}
    modules: dict[str, str] = {}
    for module in KIND_MODULES:
        kind = _registered(module)
        if kind.name in found:
            raise ExpertKindError(f"expert kind '{kind.name}' is registered twice, by agents/experts/{modules[kind.name]}.py "
                                  f"and agents/experts/{module}.py: give one of them another name")
        found[kind.name], modules[kind.name] = kind, module
    return found


def _registered(module: str) -> ExpertKind:
    """The checked `KIND` of one module named in KIND_MODULES."""
    full = f"{__name__}.{module}"
    try:
        loaded = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:  # the kind's module exists; something it imports does not
            raise _unimportable(module, exc) from exc
        import pkgutil  # here, on this error path only: nothing else that imports the pool loads it

        present = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")
        raise ExpertKindError(f"KIND_MODULES names '{module}', which cannot be imported: {exc}. There is no "
                              f"agents/experts/{module}.py: fix the name in KIND_MODULES (the modules there: "
                              f"{', '.join(present)})") from exc
    except Exception as exc:
        raise _unimportable(module, exc) from exc
    kind = getattr(loaded, "KIND", None)
    if kind is None:
        raise ExpertKindError(f"agents/experts/{module}.py defines no KIND = ExpertKind(...): add it at the end of the "
                              f"module ({RECIPE}), or remove '{module}' from KIND_MODULES")
    if not isinstance(kind, ExpertKind):
        raise ExpertKindError(f"agents/experts/{module}.py: KIND is a {type(kind).__name__}, not an ExpertKind: "
                              f"write KIND = ExpertKind(...) ({RECIPE})")
    settings = kind.settings
    if not (isinstance(settings, type) and issubclass(settings, ExpertSettings)):
        raise ExpertKindError(f"agents/experts/{module}.py: KIND's settings, {settings!r}, is not a subclass of "
                              f"ExpertSettings: pass the kind's settings class ({RECIPE})")
    annotation = settings.model_fields["kind"].annotation
    if get_origin(annotation) is not Literal or get_args(annotation) != (kind.name,):
        shown = f"Literal{list(get_args(annotation))}" if get_origin(annotation) is Literal else repr(annotation)
        raise ExpertKindError(f"agents/experts/{module}.py: KIND is named '{kind.name}' but {settings.__name__}.kind is "
                              f"{shown}; a pool file's `kind = ...` picks the kind by both, so make them the same: "
                              f"`kind: Literal['{kind.name}']` in {settings.__name__}, or rename KIND")
    return kind


def _unimportable(module: str, exc: Exception) -> ExpertKindError:
    return ExpertKindError(f"KIND_MODULES names '{module}', which cannot be imported: {type(exc).__name__}: {exc}. "
                           f"Fix agents/experts/{module}.py (the traceback above shows where; {RECIPE}) or remove "
                           f"'{module}' from KIND_MODULES")


def _kind_of(value: Any) -> str:
    kind = value.get("kind", DEFAULT_KIND) if isinstance(value, dict) else getattr(value, "kind", DEFAULT_KIND)
    return kind if isinstance(kind, str) else repr(kind)


def settings_union() -> Any:
    """The annotation of one `[[experts]]` entry: the registered kinds' settings, chosen by `kind`."""
    members = tuple(Annotated[k.settings, Tag(name)] for name, k in expert_kinds().items())
    return Annotated[Union[members], Discriminator(_kind_of)]  # type: ignore[valid-type]


def _kind(settings: ExpertSettings) -> ExpertKind:
    try:
        return expert_kinds()[settings.kind]
    except KeyError:
        raise ConfigError(f"expert '{settings.name}' has kind '{settings.kind}'; known kinds: "
                          f"{', '.join(expert_kinds())}") from None


def _as_config_error(settings: ExpertSettings, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except ConfigError:
        raise
    except (ValueError, OSError) as exc:  # a corpus, module or file the settings name that isn't there
        raise ConfigError(f"expert '{settings.name}' ({settings.kind}): {exc}") from None


def check_expert(settings: ExpertSettings) -> None:
    """Its kind's quick check (an importable function, an existing corpus), before any model server starts."""
    kind = _kind(settings)
    if kind.check is not None:
        _as_config_error(settings, lambda: kind.check(settings))


def build_expert(settings: ExpertSettings, context: ExpertContext) -> ExpertClient:
    kind = _kind(settings)
    return _as_config_error(settings, lambda: kind.client(settings, context))
