"""`routeweave train data`'s settings. The defaults are the recipe of the shipped adapter, and what
`routeweave train all` builds. Kept free of heavy imports: the CLI reads it to print --help."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

AnswerThink = Literal["brief", "quote"]
ANSWER_THINKS: tuple[str, ...] = get_args(AnswerThink)
DEFAULT_ANSWER_THINK = "brief"  # measured better than "quote" (benchmarks/results/training.md, tenth session)


class DataSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    variants: int = Field(2, ge=1, description="trajectories per question, each with another expert list")
    llm_share: float = Field(0.1, ge=0, le=1, description="share of teacher sessions that first ask an LLM expert "
                             "(real replies)")
    answer_think: AnswerThink = Field(
        DEFAULT_ANSWER_THINK, description="the last turn's <think>: one fixed sentence (brief) or the evidence around "
        "the answer (quote)")
    made_up_names: float = Field(0.5, ge=0, le=1, description="share of the varied expert lists named with made-up "
                                 "words, so the router must find the retriever by its description")
    counterfactual: float = Field(0.0, ge=0, le=1, description="share of teacher sessions whose answer is swapped "
                                  "for another of its kind in the evidence and the target, so that only reading gives it")
    rank_by_question: bool = Field(False, description="the teacher's searches rank passages by the question's words "
                                   "too, as a retrieval expert with rank_by_question does (the embedded pool's)")
    default_share: float = Field(0.4, ge=0, le=1, description="share of sessions shown the served pool's own list (--pool; "
                                 "default the embedded pool)")
    pool: str | None = Field(None, description="the pool the router will serve (a shipped pool's name or a file): its "
                             "expert list is the one shown in the default share, its retrieval expert's corpus and top_k are "
                             "what the teacher searches (default: the embedded pool)")
    questions: list[str] = Field(default_factory=list, description="your own training questions: .jsonl/.json files in "
                                 "HotpotQA's or MuSiQue's shape; their paragraphs join the training corpus")
    questions_only: bool = Field(False, description="train on the --questions files only, not on the shipped HotpotQA and "
                                 "MuSiQue samples")
    min_f1: float = Field(0.5, ge=0, le=1, description="rejection sampling (--from-run): keep sessions whose answer "
                          "scored at least this F1")


def default(name: str):
    return DataSettings.model_fields[name].default


def help_of(name: str) -> str:
    return DataSettings.model_fields[name].description or ""
