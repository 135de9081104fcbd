"""QA evaluation data: every supported file becomes a list of one `Example` type.

A dataset is a name (`catalog.py`: the shared data's files and the named splits of them) or the path of
a file in one of these formats. The container (JSON array or JSON Lines) and the
record format are detected from the content, not the extension:
FlashRAG (``golden_answers``), MuSiQue (``answer_aliases``/``paragraphs``), 2WikiMultihopQA
(``test_id``/``evidences``; ``answer`` a string or an alias list), HotpotQA (``_id``/``context``/
``supporting_facts``, context in Hugging Face or original layout) and plain ``question``+``answer``
(``answers`` is accepted for ``answer``). An answer is a string, a number (kept as its JSON text) or a list
of them. The format is detected from the first JSON object and applies to the whole file. The file is
UTF-8 (a BOM is fine). CSV is not supported.
Bad rows (invalid JSON, not UTF-8, missing fields, duplicate ids) are skipped and reported as `RowProblem`s
with their line (or array index); they never stop a run. A file with no JSON object at all is refused.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .catalog import DATA_DIR_ENV, DATASET_FILES, DATASET_SPLITS, StrPath, default_data_dir, resolve_dataset

__all__ = ["DATA_DIR_ENV", "DATASET_FILES", "DATASET_SPLITS", "Example", "LoadResult", "Passage", "RowProblem",
           "default_data_dir", "heldout_questions", "load_dataset", "read_records", "resolve_dataset"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Passage(_Strict):
    """One context paragraph: a Wikipedia title and its text."""

    title: str
    text: str


class Example(_Strict):
    """One question with all its acceptable gold answers (aliases included)."""

    id: str = Field(min_length=1, description="the file's id, else the JSONL line number / JSON array index")
    question: str
    answers: list[str] = Field(min_length=1)
    context: list[Passage] | None = None
    dataset: str

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("question is blank")
        return v.strip()

    @field_validator("answers")
    @classmethod
    def _clean_answers(cls, v: list[str]) -> list[str]:
        if not (kept := list(dict.fromkeys(a for a in v if a.strip()))):  # drop blanks/duplicates, keep order
            raise ValueError("no non-blank gold answer")
        return kept


class RowProblem(_Strict):
    """A row that was skipped: where it is (``line`` 1-based for JSONL, ``index`` 0-based for a JSON
    array) and why."""

    file: str
    line: int | None = None
    index: int | None = None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"index {self.index}"
        return f"{self.file} ({where}): {self.message}"


class LoadResult(_Strict):
    dataset: str
    path: str
    format: str | None = Field(description="detected record format; None if no row was recognisable")
    total_rows: int = Field(description="good rows before limit/seed sampling")
    examples: list[Example]
    problems: list[RowProblem]


def read_records(path: Path) -> Iterator[tuple[int | None, int | None, Any, str | None]]:
    """Yield (line, index, record, error) from a JSON array or a JSON Lines file (UTF-8, a BOM allowed).
    A line (JSON Lines) or an element (JSON array) that is not UTF-8 or not JSON is an error of its own."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    if data.lstrip().startswith(b"["):
        text = data.decode("utf-8", errors="surrogateescape")  # a byte that is not UTF-8 becomes a lone surrogate
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not a valid JSON array ({e})") from e
        suspect = _LONE_SURROGATE.search(text) is not None  # then find the elements holding one
        for i, row in enumerate(rows):
            bad = suspect and _LONE_SURROGATE.search(json.dumps(row, ensure_ascii=False))
            if bad:
                yield None, i, None, f"not UTF-8: byte 0x{ord(bad.group()) - 0xDC00:02x}; {_SAVE}"
            else:
                yield None, i, row, None
        return
    for n, raw in enumerate(data.split(b"\n"), start=1):  # not splitlines(): U+2028 may sit inside a string
        if not raw.strip():
            continue
        try:
            yield n, None, json.loads(raw.decode("utf-8")), None
        except UnicodeDecodeError as e:
            yield n, None, None, f"not UTF-8: byte 0x{raw[e.start]:02x} at column {e.start + 1}; {_SAVE}"
        except json.JSONDecodeError as e:
            yield n, None, None, f"invalid JSON: {e.msg} (column {e.colno})"


_LONE_SURROGATE = re.compile("[\udc80-\udcff]")
_SAVE = "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"


def detect_format(record: dict[str, Any]) -> str | None:
    """Name the record format from its keys; None if it is not a QA record."""
    keys = set(record)
    if "question" not in keys:
        return None
    if "golden_answers" in keys:
        return "flashrag"
    if not keys & {"answer", "answers"}:
        return None
    if keys & {"answer_aliases", "paragraphs", "question_decomposition"}:
        return "musique"
    if keys & {"test_id", "evidences"}:
        return "2wikimultihopqa"
    if keys & {"_id", "context", "supporting_facts"}:
        return "hotpotqa"
    return "qa"


def _string_list(value: Any, field: str) -> list[str]:
    if value is None:
        raise ValueError(f"missing {field!r}")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"{field!r} must be a string, a number or a list of them, got {type(value).__name__}")
    if bad := [a for a in value if isinstance(a, bool) or not isinstance(a, (str, int, float))]:
        raise ValueError(f"{field!r} must hold strings or numbers, found {type(bad[0]).__name__} {bad[0]!r}")
    return [a if isinstance(a, str) else json.dumps(a) for a in value]  # 8 -> "8", as the file writes it


def _context(record: dict[str, Any]) -> list[Passage] | None:
    ctx = record.get("context", record.get("paragraphs"))
    if ctx is None:
        return None
    if isinstance(ctx, dict):  # Hugging Face hotpot_qa: {"title": [...], "sentences": [[...], ...]}
        titles, sentences = ctx.get("title"), ctx.get("sentences")
        if not isinstance(titles, list) or not isinstance(sentences, list) or len(titles) != len(sentences):
            raise ValueError("'context' needs equally long 'title' and 'sentences' lists")
        return [Passage(title=t, text="".join(_string_list(s, "sentences"))) for t, s in zip(titles, sentences)]
    if isinstance(ctx, list):
        out = []
        for p in ctx:
            if isinstance(p, dict):  # MuSiQue paragraphs
                out.append(Passage(title=p.get("title"), text=p.get("paragraph_text")))
            elif isinstance(p, list) and len(p) == 2:  # original HotpotQA / 2Wiki: [title, [sentences]]
                out.append(Passage(title=p[0], text="".join(_string_list(p[1], "sentences"))))
            else:
                raise ValueError("a context paragraph must be [title, sentences] or {title, paragraph_text}")
        return out
    raise ValueError(f"'context' has unsupported type {type(ctx).__name__}")


def _example(record: dict[str, Any], fmt: str, fallback_id: str, dataset: str) -> Example:
    question = record.get("question")
    if not isinstance(question, str):
        kind = type(question).__name__
        raise ValueError("missing 'question'" if question is None else f"'question' must be a string, got {kind}")
    if fmt == "flashrag":
        if not (answers := _string_list(record.get("golden_answers"), "golden_answers")):
            raise ValueError("'golden_answers' is empty")
    else:
        if "answer" in record and "answers" in record:
            raise ValueError("has both 'answer' and 'answers'; keep one ('answers' is another name for 'answer')")
        field = "answers" if "answers" in record else "answer"
        answers = _string_list(record.get(field), field)
        if "answer_aliases" in record:
            answers = answers + _string_list(record["answer_aliases"], "answer_aliases")
    raw_id = next((record[k] for k in ("id", "_id", "test_id") if record.get(k) is not None), fallback_id)
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
        raise ValueError(f"id must be a string or an integer, got {type(raw_id).__name__}")
    return Example(id=str(raw_id), question=question, answers=answers, context=_context(record), dataset=dataset)


def _why(e: ValidationError | ValueError) -> str:
    if not isinstance(e, ValidationError):
        return str(e)
    return "; ".join(
        f"{'.'.join(map(str, x['loc'])) or 'row'}: {x['msg'].removeprefix('Value error, ')}" for x in e.errors()
    )


def load_dataset(
    name_or_path: StrPath, *, data_dir: StrPath | None = None, limit: int | None = None,
    seed: int | None = None, label: str | None = None,
) -> LoadResult:
    """Load a named dataset (see module docstring) or any supported file.

    ``limit`` alone keeps the first N good rows; with ``seed`` it keeps a seeded random sample of N
    (``random.Random(seed).sample`` over the good rows, the way Router-R1 draws its 500), returned in
    file order; ``seed`` without ``limit`` keeps every row. ``label`` overrides ``Example.dataset``
    (default: the dataset name, or the file name for a path). A file in which no line (or element) is a JSON
    object, such as a CSV file, raises ValueError saying what is read instead.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    name, path = resolve_dataset(name_or_path, data_dir)
    dataset = label or name
    lines = DATASET_SPLITS[name][1:] if name in DATASET_SPLITS else None
    fmt: str | None = None
    first = ""  # where the format was detected
    objects = 0
    examples: list[Example] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for line, index, record, error in read_records(path):
        if lines is not None and not (line is not None and lines[0] <= line <= lines[1]):
            continue
        where = {"file": str(path), "line": line, "index": index}
        objects += isinstance(record, dict)
        if error is None and not isinstance(record, dict):
            error = f"record must be a JSON object, got {type(record).__name__}"
        if error is None and fmt is None:
            fmt, first = detect_format(record), f"line {line}" if line is not None else f"index {index}"
        if error is None and fmt is None:
            error = (f"not a QA record: expected 'question' with 'answer', 'answers' or 'golden_answers'; "
                     f"it has {', '.join(map(repr, record)) or 'no field'}")
        if error is None:
            try:
                ex = _example(record, fmt, str(line if line is not None else index), dataset)
                if ex.id in seen:
                    error = f"duplicate id {ex.id!r} (kept the first)"
                else:
                    seen.add(ex.id)
                    examples.append(ex)
            except (ValidationError, ValueError) as e:
                error = _why(e)
                own = detect_format(record)
                if own is None or (own == "flashrag") != (fmt == "flashrag"):  # its answers are in another field
                    error += (f" (the file is read as {fmt} format, detected from its first row at {first}; this row "
                              f"has {', '.join(map(repr, record))}"
                              + (f", which is {own} format: use one format for the whole file)" if own else ")"))
        if error is not None:
            problems.append(RowProblem(**where, message=error))
    if problems and not objects:
        p = problems[0]
        raise ValueError(
            f"{path}: no {'line' if p.line is not None else 'element'} is a JSON object, so this is not a QA dataset file "
            f"({f'line {p.line}' if p.line is not None else f'index {p.index}'}: {p.message}). A dataset is JSON Lines "
            "(one JSON object per line, e.g. {\"id\": \"q1\", \"question\": \"...\", \"answer\": \"...\"}) or a JSON "
            "array of such objects; CSV is not supported: convert it (docs/qa-results.md, \"Your own QA file\")")
    total = len(examples)
    if limit is not None:
        if seed is None:
            examples = examples[:limit]
        else:
            keep = sorted(random.Random(seed).sample(range(total), min(limit, total)))
            examples = [examples[i] for i in keep]
    return LoadResult(
        dataset=dataset, path=str(path), format=fmt, total_rows=total, examples=examples, problems=problems
    )


def heldout_questions(data_dir: StrPath | None = None) -> set[str] | None:
    """The normalised questions of ``hotpotqa-heldout`` (the router-training test set), for refusing them
    wherever something is fitted or tuned; None when the HotpotQA sample is not there to check against."""
    from .metrics import normalize_answer

    try:
        loaded = load_dataset("hotpotqa-heldout", data_dir=data_dir)
    except (OSError, ValueError):
        return None
    return {normalize_answer(e.question) for e in loaded.examples}
