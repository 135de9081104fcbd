"""Experts the router can ask. Each kind of expert is a class registered by its pool `kind`; all answer
`ask(query) -> CallRecord` and say up front the most a call may cost, so the budget can reserve it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable, Protocol

from .llm import CallRecord, Target, complete, count_tokens
from .pool import Expert

DEFAULT_EXPERT_PROMPT = "Answer the question briefly and factually."


class ExpertClient(Protocol):
    name: str

    async def ask(self, query: str) -> CallRecord: ...

    def reserve_usd(self, query: str) -> float: ...

    def reserve_tokens(self, query: str) -> int: ...


class ExpertContext(Protocol):
    """What building an expert may need from the running service."""

    cache_dir: Path

    def target(self, expert: Expert) -> Target: ...


_KINDS: dict[str, Callable[[Expert, ExpertContext], ExpertClient]] = {}


def expert_kind(kind: str):
    def register(cls):
        _KINDS[kind] = cls
        return cls

    return register


def build_expert(expert: Expert, context: ExpertContext) -> ExpertClient:
    try:
        factory = _KINDS[expert.kind]
    except KeyError:
        raise ValueError(f"expert '{expert.name}' has kind '{expert.kind}'; known kinds: {', '.join(_KINDS)}") from None
    return factory(expert, context)


@expert_kind("llm")
class LLMExpert:
    def __init__(self, expert: Expert, context: ExpertContext):
        self.name = expert.name
        self.target = context.target(expert)
        self.system_prompt = expert.system_prompt or DEFAULT_EXPERT_PROMPT

    def _messages(self, query: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": query}]

    def reserve_tokens(self, query: str) -> int:
        # 25% + 16 tokens of headroom over LiteLLM's count: chat templates add tokens it cannot see
        return int(count_tokens(self.target, self._messages(query)) * 1.25) + 16 + self.target.max_tokens

    def reserve_usd(self, query: str) -> float:
        prompt = self.reserve_tokens(query) - self.target.max_tokens
        return self.target.reserve_usd(prompt)

    async def ask(self, query: str) -> CallRecord:
        # logprobs give the cascade its confidence signal; servers without them just return none
        return await complete(self.target, self._messages(query), logprobs=True)


@expert_kind("retrieval")
class RetrievalExpert:
    """BM25 over a local corpus: no tokens, no dollars; the router pays for reading the passages."""

    def __init__(self, expert: Expert, context: ExpertContext):
        from .retrieval import open_retriever

        self.name = expert.name
        self.top_k = expert.top_k
        self.retriever = open_retriever(expert.corpus or "", context.cache_dir)

    def reserve_tokens(self, query: str) -> int:
        return 0

    def reserve_usd(self, query: str) -> float:
        return 0.0

    async def ask(self, query: str) -> CallRecord:
        from .retrieval import format_passages

        started = time.perf_counter()
        try:
            passages = await asyncio.to_thread(self.retriever.search, query, self.top_k)
        except Exception as exc:  # a broken index is this expert's failure, not the session's
            return CallRecord(who=self.name, latency_s=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
        text = format_passages(passages) if passages else "No passage matched."
        return CallRecord(who=self.name, text=text, latency_s=time.perf_counter() - started)
