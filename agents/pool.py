"""The expert pool: who the router may ask, what each call costs, and the session limits.

A pool is data. It is read once from a TOML file and validated by pydantic; every error names the file,
the expert and the field, and says how to fix it. `--pool` takes a file path or the name of a pool that
ships in the package (`agents/pools/NAME.toml`: embedded, remote, vllm)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from .errors import ConfigError
from .experts import ExpertSettings, expert_kinds, settings_union
from .settings import Endpoint, Limits, LocalServer, Reliability, RouterModel, Strict

POOLS_DIR = Path(__file__).parent / "pools"
# Expert fields added after pools were first hashed enter the hash only when set away from their default, so a
# pool's hash (which guards resumed sessions and eval runs) survives the upgrade that added them.
LATER_EXPERT_FIELDS = ("reply_chars", "passage_chars", "concurrency", "latency_s")
DEFAULT_POOL = "embedded"
Expert = ExpertSettings  # one [[experts]] entry, of any kind
# The union of the registered kinds' settings, built now rather than in the (string) annotation below: pydantic
# evaluates annotations lazily and would defer or reword a broken kind module's error ("'Pool' is not fully
# defined", "Unable to evaluate type annotation") instead of raising the registry's ExpertKindError.
ExpertEntry = settings_union()


class Pool(Strict):
    servers: dict[str, LocalServer] = {}
    router: RouterModel
    experts: list[ExpertEntry] = Field(..., min_length=1)  # type: ignore[valid-type]
    limits: Limits = Limits()
    reliability: Reliability = Reliability()
    aggregate: str = Field("concat", description="how replies of several experts to one sub-question are merged")
    guard: str | None = Field(
        None, description="a guard policy in front of every graph: a registered name or a directory saved by Policy.save"
    )
    policies: str | None = Field(
        None, description="folder of policies fitted for this pool (`routeweave fit`); relative to the pool file"
    )
    _source: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _references(self) -> "Pool":
        names = [e.name for e in self.experts]
        folded = [n.lower() for n in names]  # the router's "Wiki:" and "wiki:" name one expert
        dupes = sorted({n for n in names if folded.count(n.lower()) > 1})
        if dupes:
            raise ValueError(f"expert names must be unique, ignoring case (the router's searches do); "
                             f"repeated: {', '.join(dupes)}")
        if "router" in {n.lower() for n in names}:
            raise ValueError("'router' names the router model; give the expert another name")
        for who, endpoint in [("router", self.router), *((f"expert '{e.name}'", e) for e in self.endpoints())]:
            for address in endpoint.addresses:
                if address.server and address.server not in self.servers:
                    known = ", ".join(self.servers) or "none defined"
                    raise ValueError(
                        f"{who} uses server '{address.server}', but there is no [servers.{address.server}] table "
                        f"(servers: {known})"
                    )
            self._check_adapter(who, endpoint)
        models = {e.name for e in self.endpoints()}
        for e in self.experts:
            wrong = [f for f in getattr(e, "fallbacks", []) if f not in models or f == e.name]
            if wrong:
                raise ValueError(f"expert '{e.name}' falls back to {wrong}: fallbacks must name other model experts")
            reader = e.read_by()
            if reader is not None and reader != "router" and reader not in models:
                raise ValueError(f"expert '{e.name}' is read by '{reader}': name 'router' or a model expert "
                                 f"({', '.join(sorted(models)) or 'none in this pool'})")
        if not any(e.enabled for e in self.experts):
            raise ValueError("every expert is disabled: enable at least one")
        return self

    def _check_adapter(self, who: str, endpoint: Endpoint) -> None:
        """An endpoint's `adapter` must be loaded by every embedded server it runs on (and only runs there)."""
        servers = [a.server for a in endpoint.addresses if a.server]
        if endpoint.adapter and (not servers or len(servers) != len(endpoint.addresses)):
            raise ValueError(f"{who} has adapter '{endpoint.adapter}' but runs on no embedded server ('server = ...')")
        if len({tuple(self.servers[n].adapters) for n in servers}) > 1:
            raise ValueError(f"{who} runs on embedded servers with different adapters: give them the same 'adapters'")
        for n in servers:
            if endpoint.adapter and endpoint.adapter not in self.servers[n].adapters:
                known = ", ".join(self.servers[n].adapters) or "none"
                raise ValueError(f"{who} asks for adapter '{endpoint.adapter}', which [servers.{n}] does not load "
                                 f"(its adapters: {known})")

    @property
    def enabled(self) -> list[ExpertSettings]:
        return [e for e in self.experts if e.enabled]

    def endpoints(self) -> list[Any]:
        """Experts that are model endpoints (they have a model, prices per token, fallbacks)."""
        return [e for e in self.experts if isinstance(e, Endpoint)]

    def callable_endpoints(self) -> list[Any]:
        """Model experts a session may call: the enabled ones, their fallbacks and the readers they name."""
        wanted = {e.name for e in self.enabled}
        wanted |= {f for e in self.enabled for f in getattr(e, "fallbacks", [])}
        wanted |= {e.read_by() for e in self.enabled if e.read_by()}
        return [e for e in self.endpoints() if e.name in wanted]

    @property
    def source(self) -> Path | None:
        """The file this pool was loaded from (None when built in code)."""
        return self._source

    def expert(self, name: str) -> ExpertSettings:
        for e in self.experts:
            if e.name.lower() == name.lower():
                return e
        raise KeyError(name)

    def fingerprint(self) -> str:
        """A short stable hash of everything that shapes a session (models, prices, limits, experts) and of
        the bytes of every LoRA adapter its servers load (a retrained adapter is another pool)."""
        from .adapters import file_sha256
        from .local_server import ServerError, resolve_gguf

        unset = {i: names for i, e in enumerate(self.experts)
                 if (names := {n for n in LATER_EXPERT_FIELDS if n in type(e).model_fields
                               and getattr(e, n) == type(e).model_fields[n].default})}
        digest = hashlib.sha256(self.model_dump_json(exclude={"experts": unset} if unset else None).encode())
        for server in self.servers.values():
            for name, spec in sorted(server.adapters.items()):
                try:
                    digest.update(f"{name}={file_sha256(resolve_gguf(spec))}".encode())
                except ServerError as exc:
                    raise PoolError(f"adapter '{name}': {exc}") from None
        return digest.hexdigest()[:16]

    def with_enabled(self, names: list[str]) -> "Pool":
        """A copy of the pool with exactly these experts enabled (unknown names are an error)."""
        wanted = {n.lower() for n in names}
        known = {e.name.lower() for e in self.experts}
        if unknown := [n for n in names if n.lower() not in known]:  # as the user spelt them
            raise PoolError(f"unknown expert(s): {', '.join(unknown)}; the pool has {', '.join(e.name for e in self.experts)}")
        experts = [e.model_copy(update={"enabled": e.name.lower() in wanted}) for e in self.experts]
        return self.model_copy(update={"experts": experts})


class PoolError(ConfigError):
    """A pool file that cannot be used; the message says where and how to fix it."""


def shipped_pools() -> list[str]:
    return sorted(p.stem for p in POOLS_DIR.glob("*.toml"))


def pool_path(spec: str | Path | None = None) -> Path:
    """A pool name shipped in the package ('embedded', 'vllm', ...) or a file path. A value with a path
    separator or ending in .toml is a file."""
    text = str(spec) if spec is not None else DEFAULT_POOL
    if "/" in text or "\\" in text or text.endswith(".toml"):
        return Path(text).expanduser()
    path = POOLS_DIR / f"{text}.toml"
    if not path.is_file():
        raise PoolError(f"no shipped pool named '{text}' (shipped: {', '.join(shipped_pools())}); "
                        "a pool file needs a path separator or the .toml suffix, e.g. ./my-pool.toml")
    return path


def load_pool(spec: str | Path | dict | None = None) -> Pool:
    """A shipped pool by name, a pool file (TOML), or a dict of the same tables built in code (its relative
    paths read from the current directory); None: the embedded pool. A PoolError says what to fix."""
    if isinstance(spec, dict):
        try:
            return Pool.model_validate(_anchored(spec, Path.cwd()))
        except ValidationError as exc:
            raise PoolError(_explain("the pool dict", spec, exc)) from None
    path = pool_path(spec)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PoolError(f"pool file {path} does not exist (shipped pools: {', '.join(shipped_pools())})") from None
    except IsADirectoryError:
        raise PoolError(f"pool file {path} is a directory: pass the pool's .toml file inside it") from None
    except PermissionError:
        raise PoolError(f"pool file {path} can't be read (permission denied): check its mode and owner") from None
    except UnicodeDecodeError as exc:
        raise PoolError(f"pool file {path} is not UTF-8 text (byte {exc.start}): a pool is a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PoolError(f"pool file {path} is not valid TOML: {exc}") from None
    try:
        pool = Pool.model_validate(_anchored(raw, path.resolve().parent))
    except ValidationError as exc:
        raise PoolError(_explain(f"pool file {path}", raw, exc)) from None
    pool._source = path.resolve()
    return pool


def _anchored(raw: dict, folder: Path) -> dict:
    """The pool file's relative file paths (a server's `gguf` and `adapters`, an expert's `corpus`) read from the
    pool file's folder, as its `policies` folder is, not from wherever the command runs. Names ('builtin:NAME',
    'package:file') and absolute paths stay as written."""
    def anchor(value):
        if not isinstance(value, str) or value.startswith("builtin:") or Path(value).expanduser().is_absolute():
            return value
        if ":" in value and not value.startswith("."):  # package:file
            return value
        return str(folder / value)

    raw = dict(raw)
    if isinstance(raw.get("servers"), dict):
        raw["servers"] = {name: {**table, **({"gguf": anchor(table["gguf"])} if "gguf" in table else {}),
                                 **({"adapters": {k: anchor(v) for k, v in table["adapters"].items()}}
                                    if isinstance(table.get("adapters"), dict) else {})}
                          if isinstance(table, dict) else table for name, table in raw["servers"].items()}
    if isinstance(raw.get("experts"), list):
        raw["experts"] = [{**e, "corpus": anchor(e["corpus"])} if isinstance(e, dict) and "corpus" in e else e
                          for e in raw["experts"]]
    return raw


def _explain(what: str, raw: dict, exc: ValidationError) -> str:
    lines = [f"{what} has {exc.error_count()} problem(s):"]
    kinds = expert_kinds()
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")  # a validator's own message, without pydantic's label
        if err["type"] in ("model_type", "dict_type"):
            msg = "should be a table: a [section] or an inline { key = value, ... }"
        if len(loc) >= 2 and loc[0] == "experts" and isinstance(loc[1], int):
            experts = raw.get("experts") or []
            entry = experts[loc[1]] if loc[1] < len(experts) and isinstance(experts[loc[1]], dict) else {}
            rest = loc[3:] if len(loc) > 2 and loc[2] in kinds else loc[2:]  # drop the union's kind tag
            field = ".".join(str(p) for p in rest) or "(the expert itself)"
            where = f"expert '{entry.get('name', '?')}' ([[experts]] #{loc[1] + 1}), field '{field}'"
            if err["type"] == "union_tag_invalid":
                where = f"expert '{entry.get('name', '?')}' ([[experts]] #{loc[1] + 1}), field 'kind'"
                msg = f"unknown kind {entry.get('kind')!r}; known kinds: {', '.join(kinds)}"
            elif err["type"] == "extra_forbidden":
                msg = f"unknown field: not a field of a '{entry.get('kind', 'llm')}' expert; remove it or check its spelling"
            elif err["type"] == "missing":
                msg = f"missing: a '{entry.get('kind', 'llm')}' expert needs '{field}'"
            elif field == "name" and err["type"] == "string_pattern_mismatch":
                msg = ("a name is a letter, then up to 39 letters, digits, '_', '.' or '-' (no spaces): "
                       "the router writes it in <search>Name: ...</search>")
        elif err["type"] == "extra_forbidden":
            msg = "unknown field: remove it or check its spelling"
        elif err["type"] == "missing":
            msg = f"missing: [{'.'.join(str(p) for p in loc[:-1]) or 'pool'}] needs '{loc[-1]}'"
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)
