"""Varied expert lists for trajectories: names, order, descriptions, prices and limits change from one
session to the next, so the router learns to read its pool instead of memorising one. A share of the
sessions use the embedded default pool exactly as shipped."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._graph import Expert, Price, expert_kinds
from .base import TrainingError

RETRIEVAL_NAMES = ["Wiki", "Wikipedia", "Search", "WikiSearch", "Docs", "Encyclopedia", "KB", "Lookup", "Library"]
RETRIEVAL_DESCRIPTIONS = [
    "Wikipedia search: ask it first, with the names from the question. Free.",
    "Searches Wikipedia paragraphs (BM25); free.",
    "Finds encyclopedia paragraphs about a name or topic. Free.",
    "Keyword search over Wikipedia; returns two paragraphs. Costs nothing.",
]
LLM_NAMES = ["SmolLM2", "Qwen-7B", "Llama-8B", "GPT-4o-mini", "Mistral-7B", "Helper", "Gemma-2B", "Claude-Sonnet"]
LLM_DESCRIPTIONS = [
    "A small chat model; it often guesses wrong. Costs money.",
    "Cheap and fast; good for simple facts.",
    "Strong reasoning and knowledge; expensive.",
    "A general chat model. Costs money.",
    "A mid-sized model; decent at facts.",
]

# `train data --made-up-names SHARE`: that share of the varied pools name their experts with made-up words
# instead, so that no fixed set of names can be memorised and the router has to find the retriever by its
# description and price, as in a pool it was not trained on (eleventh session: it then calls a renamed
# retriever, which the tenth session's router never did; shipped since the twelfth: benchmarks/results/training.md). A made-up word
# alternates consonant onsets and vowels, so it is never a name of the renamed test pool
# (benchmarks/pools/embedded-renamed.toml: "Archive", "Assistant").
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "st", "kl"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "eo"]


def made_up_name(rng: random.Random) -> str:
    """A pronounceable nonsense word of 2-3 syllables, sometimes with a version suffix ("Torami", "Klevo-3")."""
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{word}-{rng.randint(1, 9)}" if rng.random() < 0.25 else word


@dataclass(frozen=True)
class SessionPool:
    experts: list[Expert]
    retrieval: str  # the retrieval expert's name
    llms: list[str]
    budget_usd: float
    max_rounds: int
    router_price: Price


def pool_view(pool, max_rounds: int = 3) -> SessionPool:
    """A pool's router-facing view: its enabled experts, as its router's prompt lists them. The teacher
    searches with its retrieval expert."""
    retrieval = next((e.name for e in pool.enabled if e.kind == "retrieval"), None)
    if retrieval is None:
        raise TrainingError("the pool has no enabled expert of kind 'retrieval': the teacher's trajectories search with "
                            "one (add one to the pool file, or train with the embedded pool)")
    return SessionPool(
        experts=list(pool.enabled), retrieval=retrieval, llms=[e.name for e in pool.callable_endpoints()],
        budget_usd=pool.limits.budget_usd, max_rounds=max(pool.limits.max_rounds, max_rounds),
        router_price=pool.router.price,
    )


def embedded_default(max_rounds: int = 3) -> SessionPool:
    """The shipped embedded pool's router-facing view."""
    from ._graph import load_pool

    return pool_view(load_pool(None), max_rounds)


def varied(rng: random.Random, *, min_rounds: int = 2, min_llms: int = 0, made_up_share: float = 0.0) -> SessionPool:
    """A random pool: one retrieval expert and 0-3 LLM experts, shuffled; named from the lists above, or
    (`made_up_share` of the pools) with made-up words. With a share of 0 no random number is drawn for it,
    so the pools are those of the recipe before the option existed."""
    made_up = made_up_share > 0 and rng.random() < made_up_share
    rname = made_up_name(rng) if made_up else rng.choice(RETRIEVAL_NAMES)
    kinds = expert_kinds()
    experts = [kinds["retrieval"].settings(name=rname, kind="retrieval", corpus="builtin:hotpotqa",
                                           description=rng.choice(RETRIEVAL_DESCRIPTIONS))]
    count = rng.randint(min_llms, 3)
    if made_up:
        llms: list[str] = []
        while len(llms) < count:
            if (name := made_up_name(rng)) not in (rname, *llms):
                llms.append(name)
    else:
        llms = rng.sample([n for n in LLM_NAMES if n != rname], count)
    for name in llms:
        price = rng.choice([0.05, 0.2, 0.6, 1.0, 3.0, 15.0])
        experts.append(kinds["llm"].settings(name=name, model="openai/x", description=rng.choice(LLM_DESCRIPTIONS),
                                             price=Price(input_per_m=round(price / 3, 3), output_per_m=price)))
    rng.shuffle(experts)
    return SessionPool(
        experts=experts, retrieval=rname, llms=llms, budget_usd=rng.choice([0.002, 0.005, 0.01, 0.02, 0.05]),
        max_rounds=max(min_rounds, rng.choice([2, 3, 3, 4])), router_price=Price(input_per_m=0.1, output_per_m=0.1),
    )
