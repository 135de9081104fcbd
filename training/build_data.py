"""Build the SFT set: teacher trajectories (HotpotQA training lines, MuSiQue train sample, your own
questions) plus any rejection-sampled ones, written atomically to WORK/trajectories.jsonl.

MuSiQue's paragraphs, and those of your own questions (`--questions FILE`), are not in the shipped corpus,
so their trajectories search a training corpus WORK/corpus-train.jsonl.gz = the shipped HotpotQA corpus
+ the pool's retrieval corpus + those paragraphs (the <information> is then still the real retriever's
output). The shipped corpus stays as it is, so the held-out figures stay comparable with the earlier runs.
The sessions' expert lists are the pool's own (`--pool`, default the embedded pool) or varied ones."""

from __future__ import annotations

import gzip
import json
import os
import random
from collections import Counter
from pathlib import Path

from routeweave.agents.files import temp_beside

from ._graph import load_pool, open_retriever, prompt_version, read_corpus, resolve_corpus
from .base import TrainingError
from .records import Trajectory, write_jsonl
from .sources import TrainExample, hotpotqa_train, musique_train, paragraphs_of, question_file
from .counterfactual import with_counterfactuals
from .data_settings import DataSettings
from .expert_lists import pool_view
from .teacher import build, choose_pool, retrieval_search

SHIPPED_CORPUS = "builtin:hotpotqa"
TRAIN_CORPUS = "corpus-train.jsonl.gz"  # in WORK; the stages' pool file searches it when --questions brought paragraphs


def write_train_corpus(path: Path, extra: list[tuple[str, str]], corpora: tuple[str, ...] = (SHIPPED_CORPUS,)) -> Path:
    rows = sorted(set().union(*(read_corpus(resolve_corpus(c)) for c in corpora)) | set(extra))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    os.close(fd)
    with gzip.GzipFile(tmp, "wb", mtime=0) as gz:
        for title, text in rows:
            gz.write((json.dumps({"title": title, "text": text}, ensure_ascii=False) + "\n").encode())
    os.replace(tmp, path)
    return path


def llm_expert(cache_dir: Path, pool_spec: str | None = None):
    """The pool's first real LLM expert (the embedded pool's: SmolLM2 on llama.cpp): (ask(question) -> reply,
    close). Every call runs on one event loop (a loop per call would leave LiteLLM's logging tasks behind on
    each closed one)."""
    from routeweave.agents.runtime import Runtime
    from routeweave.serving.loop import LoopThread

    pool = load_pool(pool_spec or "embedded-prompted")
    name = next((e.name for e in pool.callable_endpoints()), None)
    if name is None:
        raise TrainingError(f"pool {pool_spec}: no LLM expert for the --llm-share sessions to ask (they get its real "
                            "replies); add one to the pool, or pass --llm-share 0")
    runtime = Runtime(pool.with_enabled([name]), cache_dir=cache_dir).start()
    loop = LoopThread()
    loop.start()

    def ask(question: str) -> str:  # what the router reads of the reply (the expert's reply_chars)
        record = loop.run(runtime.experts[name].ask(question))
        return (f"failed: {record.error}" if record.error else record.text)[:pool.expert(name).reply_chars]

    def close() -> None:
        loop.stop()
        runtime.close()

    return ask, close


def own_questions(settings: DataSettings, data_dir: Path) -> tuple[list[TrainExample], str]:
    """The --questions files' examples, none of them a held-out HotpotQA question; and how that was checked."""
    from .rejection import heldout_ids, is_heldout

    own = [ex for path in settings.questions for ex in question_file(Path(path))]
    if not own:
        return [], "no --questions"
    try:
        held = heldout_ids(data_dir)
    except TrainingError:
        return own, "not checked: the shared HotpotQA sample is not in --data-dir"
    if bad := [f"{ex.origin}:{ex.id}" for ex in own if is_heldout(held, ex.id, ex.question)]:
        raise TrainingError(f"--questions: {len(bad)} row(s) are held-out HotpotQA test questions (lines 351-500 of "
                            f"the shared sample), e.g. {', '.join(bad[:3])}: remove them, they are never trained on")
    return own, f"checked: none of {len(own)} is held out"


def teacher_set(data_dir: Path, work: Path, settings: DataSettings, *, cache_dir: Path | None = None
                ) -> tuple[list[Trajectory], dict]:
    cache_dir = cache_dir or work / "cache"
    version = prompt_version()
    s = settings
    pool = load_pool(s.pool)
    view = pool_view(pool)
    retrieval = next(e for e in pool.enabled if e.name == view.retrieval)
    own, held_check = own_questions(s, data_dir)
    shipped = [] if s.questions_only else hotpotqa_train(data_dir) + musique_train(data_dir)
    if not shipped and not own:
        raise TrainingError("--questions-only without --questions: there is nothing to train on")
    corpora = tuple(dict.fromkeys((SHIPPED_CORPUS, retrieval.corpus)))
    corpus = write_train_corpus(work / TRAIN_CORPUS, paragraphs_of(shipped, datasets=("musique",)) + paragraphs_of(own),
                                corpora)
    shown = {"passage_chars": retrieval.passage_chars, "reply_chars": retrieval.reply_chars}  # what the pool shows
    shipped_search = retrieval_search(open_retriever(SHIPPED_CORPUS, cache_dir), retrieval.top_k, s.rank_by_question, **shown)
    train_search = retrieval_search(open_retriever(str(corpus), cache_dir), retrieval.top_k, s.rank_by_question, **shown)
    rng = random.Random(s.seed)
    out, stats = [], Counter()
    ask, close = llm_expert(cache_dir, s.pool) if s.llm_share > 0 else (None, lambda: None)
    try:
        for ex in shipped + own:
            search = train_search if ex.origin or ex.dataset != "hotpotqa" else shipped_search
            for v in range(s.variants):
                use_llm = rng.random() < s.llm_share
                session_pool = choose_pool(rng, s.default_share, len(ex.hops) + use_llm, need_llm=use_llm,
                                           made_up_share=s.made_up_names, default=lambda max_rounds: pool_view(pool, max_rounds))
                t = build(ex, session_pool, search, prompt_version=version,
                          variant=f"#{v}" if s.variants > 1 else "", llm=ask if use_llm else None, answer_think=s.answer_think)
                stats[f"{ex.label}:{'kept' if t else 'dropped'}"] += 1
                if t:
                    stats["asked an LLM expert"] += t.source.endswith("+llm")
                    out.append(t)
    finally:
        close()
    return out, {**stats, **({"questions held-out check": held_check} if own else {})}


def build_set(data_dir: Path, work: Path, settings: DataSettings, *, extra: list[Path] = ()) -> dict:
    """Teacher + rejection-sampled trajectories -> WORK/trajectories.jsonl; what was built, and for which pool,
    -> WORK/data.json (the stages after it write their adapter's pool file from that pool)."""
    from routeweave.agents.pool import POOLS_DIR, pool_path

    from .export import DATA_RECORD, save_json_atomic
    from .records import read_trajectories

    if settings.pool and pool_path(settings.pool).parent != POOLS_DIR:  # a file: recorded absolute, for any cwd later
        settings = settings.model_copy(update={"pool": str(pool_path(settings.pool).resolve())})
    settings = settings.model_copy(update={"questions": [str(Path(q).expanduser().resolve()) for q in settings.questions]})

    rows, stats = teacher_set(data_dir, work, settings)
    rows, stats["counterfactual"] = with_counterfactuals(rows, settings.counterfactual, settings.seed)
    for path in extra:
        more = read_trajectories(path)
        rows += more
        stats[f"{path.name}:kept"] = len(more)
    n = write_jsonl(work / "trajectories.jsonl", rows)
    stats["total"] = n
    stats["prompt_version"] = prompt_version()
    stats["settings"] = settings.model_dump()
    save_json_atomic(work / DATA_RECORD, stats)
    return stats
