"""The one configuration-error type. Every problem a user fixes in a file, a flag or the environment (a bad
pool, a missing API key, a model file that is not installed, an unknown graph or policy) raises a subclass
of `ConfigError`, whose message says where the problem is and how to fix it. Commands print it without a
traceback; a model's fault at run time is never a ConfigError (it becomes data for the router)."""

from __future__ import annotations

import os


class ConfigError(ValueError):
    """Configuration the user can fix; the message says how."""


def env_number(name: str, default: float, *, minimum: float, integer: bool = False) -> float:
    """A number from the environment variable `name` (read when called, never at import), or `default` when it
    is unset or empty; a value that is not a number, or is below `minimum`, is a ConfigError naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ConfigError(f"${name} must be {kind} >= {minimum:g}, got {raw!r}: e.g. {name}={default:g}, "
                          f"or unset it for the default") from None
    if not value >= minimum:  # also refuses nan
        raise ConfigError(f"${name} must be {kind} >= {minimum:g}, got {raw!r}: e.g. {name}={default:g}, "
                          f"or unset it for the default")
    return value
