"""Build the SFT set: teacher trajectories (HotpotQA training lines, MuSiQue train sample) plus any
rejection-sampled ones, written atomically to WORK/trajectories.jsonl.

MuSiQue's paragraphs are not in the shipped corpus, so the MuSiQue trajectories search a training
corpus WORK/corpus-train.jsonl.gz = the shipped HotpotQA corpus + the MuSiQue sample's paragraphs (its
<information> is then still the real retriever's output). The shipped corpus stays as it is, so the
held-out figures stay comparable with the earlier runs."""

from __future__ import annotations

import gzip
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path

from ._graph import open_retriever, prompt_version, read_corpus, resolve_corpus
from .records import Trajectory, write_jsonl
from .sources import hotpotqa_train, musique_corpus_rows, musique_train
from .counterfactual import with_counterfactuals
from .data_settings import DataSettings
from .teacher import build, choose_pool, retrieval_search

TOP_K = 2  # the embedded pool's Wiki top_k


def write_train_corpus(path: Path, extra: list[tuple[str, str]]) -> Path:
    rows = sorted(set(read_corpus(resolve_corpus("builtin:hotpotqa"))) | set(extra))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    with gzip.GzipFile(tmp, "wb", mtime=0) as gz:
        for title, text in rows:
            gz.write((json.dumps({"title": title, "text": text}, ensure_ascii=False) + "\n").encode())
    os.replace(tmp, path)
    return path


def llm_expert(cache_dir: Path):
    """The embedded pool's real LLM expert (SmolLM2 on llama.cpp): (ask(question) -> reply, close).
    Every call runs on one event loop (a loop per call would leave LiteLLM's logging tasks behind on
    each closed one)."""
    from ._graph import load_pool
    from routeweave.agents.runtime import Runtime
    from routeweave.serving.loop import LoopThread

    pool = load_pool("embedded-prompted")
    name = next(e.name for e in pool.callable_endpoints())
    runtime = Runtime(pool.with_enabled([name]), cache_dir=cache_dir).start()
    loop = LoopThread()
    loop.start()

    def ask(question: str) -> str:
        record = loop.run(runtime.experts[name].ask(question))
        return f"failed: {record.error}" if record.error else record.text

    def close() -> None:
        loop.stop()
        runtime.close()

    return ask, close


def teacher_set(data_dir: Path, work: Path, settings: DataSettings, *, cache_dir: Path | None = None
                ) -> tuple[list[Trajectory], dict]:
    cache_dir = cache_dir or work / "cache"
    version = prompt_version()
    hotpot, musique = hotpotqa_train(data_dir), musique_train(data_dir)
    corpus = write_train_corpus(work / "corpus-train.jsonl.gz", musique_corpus_rows(musique))
    searches = {
        "hotpotqa": retrieval_search(open_retriever("builtin:hotpotqa", cache_dir), TOP_K, settings.rank_by_question),
        "musique": retrieval_search(open_retriever(str(corpus), cache_dir), TOP_K, settings.rank_by_question),
    }
    s = settings
    rng = random.Random(s.seed)
    out, stats = [], Counter()
    ask, close = llm_expert(cache_dir) if s.llm_share > 0 else (None, lambda: None)
    try:
        for ex in hotpot + musique:
            for v in range(s.variants):
                use_llm = rng.random() < s.llm_share
                pool = choose_pool(rng, s.default_share, len(ex.hops) + use_llm, need_llm=use_llm,
                                   made_up_share=s.made_up_names)
                t = build(ex, pool, searches[ex.dataset], prompt_version=version,
                          variant=f"#{v}" if s.variants > 1 else "", llm=ask if use_llm else None, answer_think=s.answer_think)
                stats[f"{ex.dataset}:{'kept' if t else 'dropped'}"] += 1
                if t:
                    stats["asked an LLM expert"] += t.source.endswith("+llm")
                    out.append(t)
    finally:
        close()
    return out, dict(stats)


def build_set(data_dir: Path, work: Path, settings: DataSettings, *, extra: list[Path] = ()) -> dict:
    from .records import read_trajectories

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
    return stats
