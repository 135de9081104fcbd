"""Expert kinds: one module per kind (its settings model and its client), joined here in one registry.

Add a kind: write `agents/experts/<kind>.py` with a settings class (a subclass of `ExpertSettings` with
`kind: Literal["<kind>"]`), a client class (`reservation(query)`, `async ask(query)`) and
`KIND = ExpertKind("<kind>", Settings, Client, "one line")`, then add its module name to `KIND_MODULES`.
The pool file's union of expert settings, the runtime and every graph pick it up from here."""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Annotated, Any, Union

from pydantic import Discriminator, Tag

from ..errors import ConfigError
from .base import ExpertClient, ExpertContext, ExpertKind, ExpertSettings

KIND_MODULES = ("llm", "retrieval", "python")
DEFAULT_KIND = "llm"  # pool files may leave `kind` out for a chat model

__all__ = ["DEFAULT_KIND", "ExpertClient", "ExpertContext", "ExpertKind", "ExpertSettings", "build_expert",
           "expert_kinds", "settings_union"]


@lru_cache(maxsize=1)
def expert_kinds() -> dict[str, ExpertKind]:
    """Every registered kind by name (its module imported once, on first use)."""
    found: dict[str, ExpertKind] = {}
    for module in KIND_MODULES:
        kind: ExpertKind = importlib.import_module(f"{__name__}.{module}").KIND
        if kind.name in found:
            raise RuntimeError(f"expert kind '{kind.name}' is registered twice")
        found[kind.name] = kind
    return found


def _kind_of(value: Any) -> str:
    kind = value.get("kind", DEFAULT_KIND) if isinstance(value, dict) else getattr(value, "kind", DEFAULT_KIND)
    return kind if isinstance(kind, str) else repr(kind)


def settings_union() -> Any:
    """The annotation of one `[[experts]]` entry: the registered kinds' settings, chosen by `kind`."""
    members = tuple(Annotated[k.settings, Tag(name)] for name, k in expert_kinds().items())
    return Annotated[Union[members], Discriminator(_kind_of)]  # type: ignore[valid-type]


def build_expert(settings: ExpertSettings, context: ExpertContext) -> ExpertClient:
    try:
        kind = expert_kinds()[settings.kind]
    except KeyError:
        raise ConfigError(f"expert '{settings.name}' has kind '{settings.kind}'; known kinds: "
                          f"{', '.join(expert_kinds())}") from None
    try:
        return kind.client(settings, context)
    except ConfigError:
        raise
    except (ValueError, OSError) as exc:  # a corpus, module or file the settings name that isn't there
        raise ConfigError(f"expert '{settings.name}' ({settings.kind}): {exc}") from None
