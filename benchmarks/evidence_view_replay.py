"""Offline, on training questions only: the share of sessions whose shown evidence holds the gold answer, with
the shipped view of a search (each of the top passages cut to its first 400 characters) against views made of
each passage's best-matching sentences, replaying the router's recorded searches of an `eval qa` run.

    python benchmarks/evidence_view_replay.py WORK [--run tr350]   # WORK holds that run's evals.db + traces.db
    python benchmarks/evidence_view_replay.py WORK --wider         # more passages, longer clips, longer replies

Result: benchmarks/results/training.md (twenty-second and twenty-third sessions). Nothing is called; yes/no
questions are left out. `--wider` also reports the characters shown per search: the router's prompt grows with them."""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from pathlib import Path

from routeweave.agents.bm25 import format_passages, open_retriever, query_terms
from routeweave.evals.qa.metrics import normalize_answer
from routeweave.agents.experts.base import REPLY_CHARS
from routeweave.serving.paths import default_cache_dir

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def sentence_view(passages, search: str, question: str, *, budget: int = 400, keep_first: bool = True) -> str:
    """Each passage as its sentences richest in the search's and question's words (in passage order), within
    ``budget`` characters; ``keep_first`` always keeps its first sentence (the one that says what it is)."""
    terms = set(query_terms(search)) | set(query_terms(question))
    shown = []
    for p in passages:
        sentences = SENTENCE_END.split(" ".join(p.text.split()))
        best = sorted(range(len(sentences)), key=lambda j: (-len(set(query_terms(sentences[j])) & terms), j))
        chosen, used = ([0], len(sentences[0])) if keep_first and sentences else ([], 0)
        for j in best:
            if j not in chosen and used + len(sentences[j]) + 1 <= budget:
                chosen.append(j)
                used += len(sentences[j]) + 1
        shown.append(p.model_copy(update={"text": " ".join(sentences[j] for j in sorted(chosen))}))
    return format_passages(shown, max_chars=budget)


def holds(view: str, golds: list[str]) -> bool:
    text = f" {normalize_answer(view)} "
    return any(f" {g} " in text for g in map(normalize_answer, golds) if g and g not in ("yes", "no"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="folder with the run's evals.db and traces.db")
    parser.add_argument("--run", default="tr350", help="an eval qa run of hotpotqa-train (default tr350)")
    parser.add_argument("--top-k", type=int, default=2, help="passages per search, as the embedded pool (default 2)")
    parser.add_argument("--wider", action="store_true", help="views with more passages, longer clips and longer replies")
    args = parser.parse_args()
    retriever = open_retriever("builtin:hotpotqa", default_cache_dir())
    if args.wider:
        return wider(args, retriever)
    views = {
        "the first 400 characters (shipped)": lambda ps, s, q: format_passages(ps),
        "first sentence + best-matching sentences, 400 characters": lambda ps, s, q: sentence_view(ps, s, q),
        "best-matching sentences only, 400 characters": lambda ps, s, q: sentence_view(ps, s, q, keep_first=False),
        "first sentence + best-matching sentences, 550 characters": lambda ps, s, q: sentence_view(ps, s, q, budget=550),
    }
    results = sqlite3.connect(args.work / "evals.db")
    traces = sqlite3.connect(args.work / "traces.db")
    seen, sessions = dict.fromkeys(views, 0), 0
    for session, question, answers in results.execute(
            "select session_id, question, answers from qa_results where run = ?", (args.run,)):
        golds = json.loads(answers)
        if all(normalize_answer(g) in ("yes", "no") for g in golds):
            continue
        sessions += 1
        searches = [q for (q,) in traces.execute(
            "select query from rw_steps where session_id = ? and kind = 'route' and expert = 'Wiki'", (session,))]
        for name, view in views.items():
            seen[name] += any(holds(view(retriever.search(s, args.top_k, context=question), s, question)[:REPLY_CHARS], golds)
                              for s in searches)
    print(f"run {args.run}: {sessions} sessions without a yes/no answer\n")
    print("| view of each search's top passages (reply ≤ 700 characters) | sessions with the answer in view |")
    print("|---|---:|")
    for name, n in seen.items():
        print(f"| {name} | {n / max(sessions, 1):.3f} |")


def sessions(work: Path, run: str):
    """(question, gold answers, the router's searches of the retriever) per session without a yes/no answer."""
    results, traces = sqlite3.connect(work / "evals.db"), sqlite3.connect(work / "traces.db")
    for session, question, answers in results.execute(
            "select session_id, question, answers from qa_results where run = ?", (run,)):
        golds = json.loads(answers)
        if not all(normalize_answer(g) in ("yes", "no") for g in golds):
            yield question, golds, [q for (q,) in traces.execute(
                "select query from rw_steps where session_id = ? and kind = 'route' and expert = 'Wiki'", (session,))]


def wider(args, retriever) -> None:
    grid = [(k, clip, reply) for k in (2, 3, 4, 5) for clip in (400, 600) for reply in (REPLY_CHARS, 1300, 2000)]
    seen, chars, n, searches = dict.fromkeys(grid, 0), dict.fromkeys(grid, 0), 0, 0
    for question, golds, queries in sessions(args.work, args.run):
        n, searches = n + 1, searches + len(queries)
        found = {q: retriever.search(q, 5, context=question) for q in queries}
        for k, clip, reply in grid:
            shown = [format_passages(found[q][:k], max_chars=clip)[:reply] for q in queries]
            seen[k, clip, reply] += any(holds(view, golds) for view in shown)
            chars[k, clip, reply] += sum(map(len, shown))
    print(f"run {args.run}: {n} sessions without a yes/no answer, {searches} searches\n")
    print("| passages | characters each | reply cut at | sessions with the answer in view | characters shown per search |")
    print("|---:|---:|---:|---:|---:|")
    for k, clip, reply in grid:
        print(f"| {k} | {clip} | {reply} | {seen[k, clip, reply] / max(n, 1):.3f} | {chars[k, clip, reply] / max(searches, 1):.0f} |")


if __name__ == "__main__":
    main()
