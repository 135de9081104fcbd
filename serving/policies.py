"""Which policy a graph routes with, for a given pool. A policy that learns (knn, mf, threshold, ...) is
used only when it has been fitted for this pool's experts: never a silent fallback under its name.

Fitted policies live in one folder per pool: the pool's `policies = "DIR"` (relative to the pool file),
else `<data dir>/policies/<pool file stem>-<hash of its expert names>/`. `routeweave fit` writes there;
`Service` serves `routeweave-<policy>` for every policy found there, plus the ones that learn nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..agents.errors import ConfigError
from ..agents.pool import Pool
from ..graphs.registry import GraphSpec
from ..policies import Policy, get_policy, load_policy, policy_class, policy_names
from ..policies.minilm import extra_installed
from .paths import data_dir


def fitted_dir(pool: Pool) -> Path:
    """Where the policies fitted for this pool are saved and looked up."""
    if pool.policies:
        base = pool.source.parent if pool.source else Path.cwd()
        return (base / pool.policies).expanduser()
    names = ",".join(sorted(e.name for e in pool.enabled))
    stem = pool.source.stem if pool.source else "pool"
    return data_dir() / "policies" / f"{stem}-{hashlib.sha256(names.encode()).hexdigest()[:8]}"


def learns(name: str) -> bool:
    return policy_class(name).trainable


def is_learned_policy(name: str) -> bool:
    """A registered policy that must be fitted for a pool before it routes for it."""
    return name in policy_names() and learns(name)


def fitted_for_pool(pool: Pool) -> list[str]:
    """Registered policies with a fitted copy saved for this pool."""
    folder = fitted_dir(pool)
    return [n for n in policy_names(include_eval_only=False) if (folder / n / "policy.json").is_file()]


def _extras(pool: Pool, name: str, fitted: set[str]) -> set[str]:
    cls = policy_class(name)
    if name not in fitted:
        return {cls.extra} if cls.extra else set()
    folder = fitted_dir(pool) / name
    try:
        return cls.saved_extras(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{folder} does not hold a readable saved '{name}' policy ({exc!r}): "
                          f"refit it with `routeweave fit`, or remove the folder") from None


def servable(pool: Pool) -> list[str]:
    """Policies a service can route with on this pool: those that learn nothing, and the fitted ones whose
    extras are all installed (a fitted causal_llm without the `router-features` extra is not listed, nor
    a fitted stack with a causal_llm member; a stack of knn and threshold needs no extra)."""
    fitted = set(fitted_for_pool(pool))
    return [n for n in policy_names(include_eval_only=False)
            if (n in fitted or not learns(n)) and all(extra_installed(x) for x in _extras(pool, n, fitted))]


def check_experts(policy: Policy, pool: Pool, where: str) -> Policy:
    """A fitted policy predicts for the experts it was fitted on: they must be the pool's enabled ones."""
    fitted = sorted(getattr(policy, "model_means", {}) or {})
    if policy.fitted and fitted:
        enabled = sorted(e.name for e in pool.enabled)
        if fitted != enabled:
            raise ConfigError(f"the '{policy.name}' policy in {where} was fitted for the experts {', '.join(fitted)}, "
                              f"but the pool enables {', '.join(enabled)}: refit it with `routeweave fit`")
    return policy


def resolve_policy(pool: Pool, spec: "str | Path | Policy | None", *, check: bool = True,
                   load: bool = True) -> Policy | None:
    """A policy object from a registered name, a saved directory or an object; see the module docstring.
    `load=False`: only the checks that need no loading (an unknown name, an unfitted one, a directory that
    holds no saved policy), so a command fails on them before it starts a model server; returns None."""
    if spec is None or isinstance(spec, Policy):
        return check_experts(spec, pool, "the given object") if spec is not None and check else spec
    path = Path(spec)
    if path.is_dir():
        if not load:
            if not (path / "policy.json").is_file():
                raise ConfigError(f"{path} does not hold a saved policy (no policy.json): pass a directory written by "
                                  "Policy.save or `routeweave fit`, or a policy name")
            return None
        try:
            policy = load_policy(path)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{path} does not hold a saved policy ({exc})") from None
        return check_experts(policy, pool, str(path)) if check else policy
    name = str(spec)
    if name not in policy_names() and (isinstance(spec, Path) or "/" in name or name.startswith((".", "~"))):
        raise ConfigError(f"no policy directory at {path.expanduser().resolve()}: pass a directory written by Policy.save "
                          f"or `routeweave fit`, or a policy name ({', '.join(policy_names())})")
    if name not in policy_names():
        raise ConfigError(f"unknown policy '{name}'; known: {', '.join(policy_names())} (or a directory saved by Policy.save)")
    saved = fitted_dir(pool) / name
    if (saved / "policy.json").is_file():
        if not load:
            return None
        return check_experts(load_policy(saved), pool, str(saved)) if check else load_policy(saved)
    if learns(name):
        same, other = _fitted_elsewhere(pool, name)
        elsewhere = (f"; fitted for another pool file with the same experts (use it with --policy DIR): {', '.join(same)}"
                     if same else "")
        elsewhere += f"; fitted for other experts (not usable here): {', '.join(other)}" if other else ""
        raise ConfigError(f"the '{name}' policy learns from recorded outcomes and has not been fitted for this pool: "
                          f"run `routeweave fit --pool POOL --runs RUN...` (it saves into {saved}), "
                          f"or pass --policy with a directory saved by Policy.save{elsewhere}")
    return get_policy(name) if load else None  # a constructor error is a PolicyOptionError naming the policy


def _fitted_elsewhere(pool: Pool, name: str) -> tuple[list[str], list[str]]:
    """Saved copies of policy `name` in other pools' folders: those fitted for this pool's experts (a copy of
    the pool file under another name, say), and the others."""
    enabled = sorted(e.name for e in pool.enabled)
    same, other = [], []
    for found in sorted((data_dir() / "policies").glob(f"*/{name}/policy.json")):
        try:
            experts = sorted(json.loads(found.read_text()).get("model_means") or {})
        except (OSError, ValueError):
            experts = []
        (same if experts == enabled else other).append(str(found.parent))
    return same, other


def default_policy(pool: Pool, spec: GraphSpec) -> str | None:
    """A graph's default policy: its `default_policy` once fitted for the pool (or if it
    learns nothing), else its `unfitted_policy` (the cascade graph: a fitted `cascade`, else the price `ladder`)."""
    wanted = spec.default_policy
    if wanted and spec.unfitted_policy and learns(wanted) and wanted not in fitted_for_pool(pool):
        return spec.unfitted_policy
    return wanted
