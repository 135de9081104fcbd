"""The one configuration-error type. Every problem a user fixes in a file, a flag or the environment (a bad
pool, a missing API key, a model file that is not installed, an unknown graph or policy) raises a subclass
of `ConfigError`, whose message says where the problem is and how to fix it. Commands print it without a
traceback; a model's fault at run time is never a ConfigError (it becomes data for the router)."""

from __future__ import annotations


class ConfigError(ValueError):
    """Configuration the user can fix; the message says how."""
