"""The `retrieval` kind: BM25 over a local corpus of {"title", "text"} rows (agents/bm25.py). Its replies are
evidence, not answers: the Router-R1 router reads them itself; the single-shot and cascade graphs hand
them to a reader (the router model by default) that answers from them.

    [[experts]]
    name = "Wiki"
    kind = "retrieval"
    corpus = "builtin:hotpotqa"      # or a path to your .jsonl / .jsonl.gz
    top_k = 2
    passage_chars = 400              # of each passage shown (cut at a word)
    rank_by_question = true          # rank a search's passages by its words and the question's
    description = "Wikipedia search: ask it with the names from the question. Free."
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from pydantic import Field, model_validator

from ..records import CallRecord, Cost
from .base import READER_HELP, ExpertContext, ExpertKind, ExpertSettings


class RetrievalSettings(ExpertSettings):
    kind: Literal["retrieval"]
    corpus: str = Field(..., min_length=1, description="'builtin:hotpotqa' or a path to a corpus .jsonl(.gz)")
    top_k: int = Field(3, ge=1, le=20)
    passage_chars: int = Field(400, ge=50, le=8_000, description="characters of each passage shown, cut at a word "
                               "(the whole reply is then cut at reply_chars)")
    reader: str = Field("router", description=READER_HELP)
    rank_by_question: bool = Field(False, description="rank the passages that match a search by the words of the "
                                   "search and of the session's question together (BM25), so that a bare name finds "
                                   "the passage the question is about")

    @model_validator(mode="before")
    @classmethod
    def _free(cls, data: Any) -> Any:
        """Pool files of routeweave 0.1 gave the retriever an all-zero `price`; it means nothing, so it is
        accepted and dropped. A non-zero price is refused: a search costs nothing here."""
        if isinstance(data, dict) and isinstance(data.get("price"), dict):
            if any(v not in (0, 0.0, None) for v in data["price"].values()):
                raise ValueError("a 'retrieval' expert is free: remove its 'price' (the router pays for reading the passages)")
            data = {k: v for k, v in data.items() if k != "price"}
        return data

    @property
    def answers(self) -> bool:
        return False

    def read_by(self) -> str | None:
        return self.reader


def reply_text(retriever, query: str, top_k: int, question: str = "", passage_chars: int = 400) -> str:
    """What the router is shown for `query`: the top passages, each cut to `passage_chars`, ranked by `question`
    too when it is given (the expert passes it only with `rank_by_question`; the training teacher calls this
    same function)."""
    from ..bm25 import format_passages

    passages = retriever.search(query, top_k, context=question)
    return format_passages(passages, max_chars=passage_chars) if passages else "No passage matched."


class RetrievalExpert:
    """No tokens, no dollars; whoever reads the passages pays for reading them."""

    def __init__(self, settings: RetrievalSettings, context: ExpertContext):
        from ..bm25 import open_retriever

        self.name, self.settings = settings.name, settings
        self.retriever = open_retriever(settings.corpus, context.cache_dir)

    def reservation(self, query: str) -> Cost:
        return Cost()

    async def ask(self, query: str, *, question: str = "") -> CallRecord:
        started = time.perf_counter()
        try:
            context = question if self.settings.rank_by_question else ""
            text = await asyncio.to_thread(reply_text, self.retriever, query, self.settings.top_k, context,
                                           self.settings.passage_chars)
        except Exception as exc:  # a broken index is this expert's failure, not the session's
            return CallRecord(who=self.name, latency_s=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
        return CallRecord(who=self.name, text=text, latency_s=time.perf_counter() - started)


KIND = ExpertKind("retrieval", RetrievalSettings, RetrievalExpert, "BM25 search over a local corpus (evidence)",
                  example={"name": "Wiki", "kind": "retrieval", "corpus": "builtin:hotpotqa", "top_k": 2, "description": "search"},
                  check=lambda s: _resolve_corpus(s.corpus))


def _resolve_corpus(corpus: str) -> None:
    from ..bm25 import resolve_corpus

    resolve_corpus(corpus)
