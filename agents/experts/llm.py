"""The `llm` kind (the default): a chat model reached through LiteLLM (vLLM, llama.cpp, remote APIs).

    [[experts]]
    name = "Qwen7B"                      # kind = "llm" may be left out
    model = "hosted_vllm/Qwen/Qwen2.5-7B-Instruct"
    api_base = "http://gpu-box:8000/v1"
    price = { input_per_m = 0.30, output_per_m = 0.30 }
    description = "A 7B general model."
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..records import CallRecord, Cost
from ..settings import Endpoint
from .base import TYPICAL_PROMPT_TOKENS, ExpertContext, ExpertKind, ExpertSettings

DEFAULT_EXPERT_PROMPT = "Answer the question briefly and factually."


class LLMExpertSettings(ExpertSettings, Endpoint):
    kind: Literal["llm"] = "llm"
    system_prompt: str | None = Field(None, max_length=4000)
    fallbacks: list[str] = Field(
        default_factory=list, description="llm experts to try, in order, when this one still fails after retries"
    )

    def typical_cost_usd(self, prompt_tokens: int = TYPICAL_PROMPT_TOKENS) -> float:
        return self.price.cost_usd(prompt_tokens, self.max_tokens)

    def price_label(self) -> str:
        return f"${self.price.input_per_m:.2f}/1M in, ${self.price.output_per_m:.2f}/1M out"


class LLMExpert:
    def __init__(self, settings: LLMExpertSettings, context: ExpertContext):
        self.name, self.settings = settings.name, settings
        self.target = context.target(settings)
        self.system_prompt = settings.system_prompt or DEFAULT_EXPERT_PROMPT

    def _messages(self, query: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": query}]

    def reservation(self, query: str) -> Cost:
        from ..llm import reservation

        return reservation(self.target, self._messages(query))

    async def ask(self, query: str, *, question: str = "") -> CallRecord:
        from ..llm import complete

        # logprobs give the cascade its confidence signal; servers without them just return none
        return await complete(self.target, self._messages(query), logprobs=True)


KIND = ExpertKind("llm", LLMExpertSettings, LLMExpert, "a chat model through LiteLLM (the default kind)",
                  example={"name": "Echo", "model": "openai/echo", "api_base": "http://127.0.0.1:9", "mock_response": "1889.", "description": "a chat model", "price": {"input_per_m": 1.0, "output_per_m": 2.0}})
