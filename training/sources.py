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
    origin: str = ""  # the --questions file's name; "" for the shipped samples

    @property
    def label(self) -> str:
        return self.origin or self.dataset


def _need(row: dict, key: str, path: Path, where: str):
    if key not in row:
        raise TrainingError(f"{path} ({where}): field '{key}' is missing")
    return row[key]


def _text(row, key: str, path: Path, where: str) -> str:
    """A field that must hold text: present, a string, not blank."""
    value = _need(row, key, path, where) if isinstance(row, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise TrainingError(f"{path} ({where}): field '{key}' must be non-empty text, got {value!r}")
    return value


def _titles_and_paragraphs(row: dict, path: Path, where: str) -> tuple[list[str], list[tuple[str, str]]]:
    """HotpotQA's supporting titles and context paragraphs, in either of its two shapes: the shared sample's
    columns ({"title": [...], "sentences": [...]}) or the original release's rows ([[title, sentences], ...])."""
    ctx, sup = _need(row, "context", path, where), _need(row, "supporting_facts", path, where)
    try:
        pairs = zip(ctx["title"], ctx["sentences"]) if isinstance(ctx, dict) else ((c[0], c[1]) for c in ctx)
        paragraphs = [(str(t), "".join(s).strip()) for t, s in pairs]
        titles = list(dict.fromkeys(sup["title"] if isinstance(sup, dict) else (f[0] for f in sup)))
    except (KeyError, IndexError, TypeError) as exc:
        raise TrainingError(f"{path} ({where}): fields 'context' and 'supporting_facts' must be HotpotQA's "
                            f"(titles with sentences; supporting titles): {exc!r}") from None
    known = {t for t, _ in paragraphs}
    if not titles or (missing := [t for t in titles if t not in known]):
        raise TrainingError(f"{path} ({where}): field 'supporting_facts' names "
                            f"{', '.join(map(repr, missing)) if titles else 'no title'}; each must be a title in 'context'")
    return [str(t) for t in titles], paragraphs


def _row_id(row: dict, path: Path, where: str, fallback: str | None) -> str:
    """The row's 'id' (or '_id'); a row of your own without one is named by its line (or index) in the file, as
    `eval qa` names it; the shipped samples (no fallback) must have theirs."""
    qid = next((row[k] for k in ("id", "_id") if row.get(k) is not None), fallback)
    if qid is None:
        raise TrainingError(f"{path} ({where}): field 'id' (or '_id') is missing")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        raise TrainingError(f"{path} ({where}): field 'id' must be text or an integer, got {qid!r}")
    return str(qid)


def hotpotqa_row(row: dict, path: Path, where: str, origin: str = "", fallback_id: str | None = None) -> TrainExample:
    titles, paragraphs = _titles_and_paragraphs(row, path, where)
    qid = _row_id(row, path, where, fallback_id)
    return TrainExample(
        id=qid, dataset="hotpotqa", question=_text(row, "question", path, where),
        answers=[_text(row, "answer", path, where)], kind=row.get("type", ""), origin=origin,
        hops=[Hop(question=t, answer=None, title=t) for t in titles], paragraphs=paragraphs,
    )


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
            out.append(hotpotqa_row(json.loads(line), path, f"line {lineno}"))
    return out


def musique_row(row: dict, path: Path, where: str, origin: str = "", fallback_id: str | None = None) -> TrainExample:
    paras = _need(row, "paragraphs", path, where)
    try:
        titles = {p["idx"]: p["title"] for p in paras}
        texts = [(p["title"], p["paragraph_text"]) for p in paras]
    except (KeyError, TypeError) as exc:
        raise TrainingError(f"{path} ({where}): each of 'paragraphs' needs 'idx', 'title' and 'paragraph_text' ({exc!r})") from None
    hops = []
    steps = _need(row, "question_decomposition", path, where)
    if not isinstance(steps, list) or not steps:
        raise TrainingError(f"{path} ({where}): field 'question_decomposition' must be a non-empty list of steps")
    for n, step in enumerate(steps):
        at = f"{where}, question_decomposition[{n}]"
        if not isinstance(step, dict):
            raise TrainingError(f"{path} ({at}): a step must be an object with 'question', 'answer', 'paragraph_support_idx'")
        idx = step.get("paragraph_support_idx")
        if idx not in titles:
            raise TrainingError(f"{path} ({at}): field 'paragraph_support_idx' = {idx!r} names no paragraph")
        hops.append(Hop(question=_text(step, "question", path, at), answer=_text(step, "answer", path, at), title=titles[idx]))
    aliases = row.get("answer_aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise TrainingError(f"{path} ({where}): field 'answer_aliases' must be a list of texts, got {aliases!r}")
    answers = [_text(row, "answer", path, where), *(a for a in aliases if a.strip())]
    qid = _row_id(row, path, where, fallback_id)
    return TrainExample(
        id=qid, dataset="musique", question=_text(row, "question", path, where),
        answers=answers, hops=hops, kind=qid.split("__")[0] if "__" in qid else "", origin=origin, paragraphs=texts,
    )


def musique_train(data_dir: Path) -> list[TrainExample]:
    path = Path(data_dir) / MUSIQUE_FILE
    if not path.is_file():
        raise TrainingError(f"MuSiQue file {path} not found (pass --data-dir, the folder holding musique/)")
    return [musique_row(row, path, f"index {i}") for i, row in enumerate(json.loads(path.read_text(encoding="utf-8")))]


def question_file(path: Path) -> list[TrainExample]:
    """Your own training questions (`train data --questions FILE`): JSON Lines or a JSON array (told apart by the
    content, as `eval qa` reads a dataset file), each row in HotpotQA's shape (question, answer, supporting_facts,
    context) or MuSiQue's (question, answer, question_decomposition, paragraphs); a row without an 'id' (or '_id')
    is named by its line (JSON Lines) or its index (a JSON array), as `eval qa` names it. Their paragraphs join
    the corpus their trajectories search."""
    from routeweave.evals.qa.datasets import read_records  # the eval datasets' reader: JSON array or JSON Lines, by content

    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"--questions {path}: file not found")
    rows = []
    try:
        for line, index, row, error in read_records(path):
            where = f"line {line}" if line is not None else f"index {index}"
            if error:
                raise TrainingError(f"{path} ({where}): {error}")
            rows.append((where, str(line if line is not None else index), row))
    except ValueError as exc:  # not a valid JSON array
        raise TrainingError(str(exc)) from None
    if not rows:
        raise TrainingError(f"{path}: no questions in it")
    origin = path.stem.replace(":", "_")
    out = []
    for where, number, row in rows:
        if not isinstance(row, dict):
            raise TrainingError(f"{path} ({where}): a row must be a JSON object")
        if "question_decomposition" in row:
            out.append(musique_row(row, path, where, origin, fallback_id=number))
        elif "supporting_facts" in row:
            out.append(hotpotqa_row(row, path, where, origin, fallback_id=number))
        else:
            raise TrainingError(f"{path} ({where}): neither HotpotQA's fields (question, answer, supporting_facts, "
                                "context) nor MuSiQue's (question, answer, question_decomposition, paragraphs)")
    return out


def paragraphs_of(examples: list[TrainExample], *, datasets: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """The examples' paragraphs, to join the retrieval corpus their trajectories search."""
    return sorted({(t.strip(), x.strip()) for ex in examples if datasets is None or ex.dataset in datasets
                   for t, x in ex.paragraphs if t.strip() and x.strip()})
