"""Training questions with what a teacher needs: HotpotQA (supporting titles, context paragraphs) and
MuSiQue (decompositions, paragraphs). Only the training lines of the shared HotpotQA sample may be read
here: lines 351-500 are the held-out test set (`eval qa --dataset hotpotqa-heldout`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .base import TrainingError

HOTPOT_FILE = "hotpotqa/dev_distractor_sample500_with_context.jsonl"
MUSIQUE_FILE = "musique/train_sample100_with_paragraphs.json"
HOTPOT_TRAIN_LINES = (1, 350)  # 1-based, inclusive; 351-500 are held out and never read here


@dataclass
class Hop:
    question: str  # a sub-question (MuSiQue) or the entity to look up (HotpotQA)
    answer: str | None
    title: str  # the supporting paragraph's title


@dataclass
class TrainExample:
    id: str
    dataset: str
    question: str
    answers: list[str]
    hops: list[Hop]
    kind: str = ""  # HotpotQA 'bridge' / 'comparison', MuSiQue hop type
    paragraphs: list[tuple[str, str]] = field(default_factory=list)


def _need(row: dict, key: str, path: Path, where: str):
    if key not in row:
        raise TrainingError(f"{path} ({where}): field '{key}' is missing")
    return row[key]


def hotpotqa_train(data_dir: Path, lines: tuple[int, int] = HOTPOT_TRAIN_LINES) -> list[TrainExample]:
    first, last = lines
    if first < 1 or last > HOTPOT_TRAIN_LINES[1] or first > last:
        raise TrainingError(f"HotpotQA training lines must lie within {HOTPOT_TRAIN_LINES}; got {lines} "
                            "(lines 351-500 are the held-out test set)")
    path = Path(data_dir) / HOTPOT_FILE
    if not path.is_file():
        raise TrainingError(f"HotpotQA file {path} not found (pass --data-dir, the folder holding hotpotqa/)")
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if lineno > last:
                break
            if lineno < first or not line.strip():
                continue
            where = f"line {lineno}"
            row = json.loads(line)
            ctx = _need(row, "context", path, where)
            sup = _need(row, "supporting_facts", path, where)
            paragraphs = [(t, "".join(s).strip()) for t, s in zip(ctx["title"], ctx["sentences"])]
            titles = list(dict.fromkeys(sup["title"]))
            out.append(TrainExample(
                id=str(_need(row, "id", path, where)), dataset="hotpotqa", question=_need(row, "question", path, where),
                answers=[_need(row, "answer", path, where)], kind=row.get("type", ""),
                hops=[Hop(question=t, answer=None, title=t) for t in titles], paragraphs=paragraphs,
            ))
    return out


def musique_train(data_dir: Path) -> list[TrainExample]:
    path = Path(data_dir) / MUSIQUE_FILE
    if not path.is_file():
        raise TrainingError(f"MuSiQue file {path} not found (pass --data-dir, the folder holding musique/)")
    out = []
    for i, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        where = f"index {i}"
        paras = _need(row, "paragraphs", path, where)
        titles = {p["idx"]: p["title"] for p in paras}
        hops = []
        for step in _need(row, "question_decomposition", path, where):
            idx = step.get("paragraph_support_idx")
            if idx not in titles:
                raise TrainingError(f"{path} ({where}): field 'paragraph_support_idx' = {idx!r} names no paragraph")
            hops.append(Hop(question=step["question"], answer=step["answer"], title=titles[idx]))
        answers = [_need(row, "answer", path, where), *row.get("answer_aliases", [])]
        out.append(TrainExample(
            id=str(_need(row, "id", path, where)), dataset="musique", question=_need(row, "question", path, where),
            answers=answers, hops=hops, kind=str(row["id"]).split("__")[0],
            paragraphs=[(p["title"], p["paragraph_text"]) for p in paras],
        ))
    return out


def musique_corpus_rows(examples: list[TrainExample]) -> list[tuple[str, str]]:
    """MuSiQue's paragraphs, to join the retrieval corpus the MuSiQue trajectories search."""
    return sorted({(t.strip(), x.strip()) for ex in examples if ex.dataset == "musique" for t, x in ex.paragraphs
                   if t.strip() and x.strip()})
