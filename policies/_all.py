"""Importing this module registers every policy: it imports each module of the policies package once (those
named ``_*`` are helpers and are skipped), and each ``@register``s its policies. A new policy module
(``policies/length.py``) needs no import line anywhere. Importing a module must stay cheap: import heavy
dependencies (torch, transformers, gguf) inside the functions that need them, as ``minilm.py`` does."""

from __future__ import annotations

import importlib
import pkgutil
import sys

MODULES = sorted(m.name for m in pkgutil.iter_modules(sys.modules[__package__].__path__) if not m.name.startswith("_"))

for _module in MODULES:
    importlib.import_module(f"{__package__}.{_module}")
