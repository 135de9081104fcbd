"""QA dataset loading: the real shared files, malformed rows, sampling, names and paths."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from routeweave.evals.qa.datasets import (
    DATA_DIR_ENV,
    DATASET_FILES,
    Example,
    default_data_dir,
    detect_format,
    load_dataset,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/data (the public QA files) is not next to the repo"
)

EXPECTED_ROWS = {"nq": 1000, "triviaqa": 1000, "popqa": 1000, "hotpotqa": 500, "2wikimultihopqa": 12576,
                 "musique": 2417}


@needs_shared
@pytest.mark.parametrize("name", sorted(DATASET_FILES))
def test_named_dataset_loads_from_shared_data(name: str) -> None:
    result = load_dataset(name, data_dir=SHARED)
    assert result.problems == []
    assert len(result.examples) == result.total_rows == EXPECTED_ROWS[name] >= 100
    ids = [ex.id for ex in result.examples]
    assert len(set(ids)) == len(ids)
    assert all(ex.answers and all(a.strip() for a in ex.answers) for ex in result.examples)
    assert all(ex.question and ex.dataset == name for ex in result.examples)


@needs_shared
def test_named_datasets_details() -> None:
    hotpot = load_dataset("hotpotqa", data_dir=SHARED)
    assert hotpot.format == "hotpotqa"
    first = hotpot.examples[0]
    assert first.id == "5a7d5c175542991319bc93b1" and first.answers == ["Denise Levertov"]
    assert first.context is not None and len(first.context) == 10
    assert first.context[0].title == "Gerry Shamray" and first.context[0].text.startswith("Gerry Shamray is")
    assert sum(len(ex.context or []) != 10 for ex in hotpot.examples) == 1  # one row ships only 2 paragraphs
    nq = load_dataset("NQ", data_dir=SHARED)  # names are case-insensitive
    assert nq.format == "flashrag" and nq.examples[0].id == "test_3283"
    wiki = load_dataset("2wikimultihopqa", data_dir=SHARED)
    assert wiki.examples[0].id == "0" and wiki.examples[0].answers == ["Ma\u0142gorzata Braunek"]
    musique = load_dataset("musique", data_dir=SHARED)
    assert musique.examples[-1].id == "2416" and musique.examples[0].context is None


@needs_shared
def test_other_shared_files_load_by_path() -> None:
    aliases = load_dataset(SHARED / "2wikimultihopqa" / "dev_first1000_with_aliases.json")
    assert aliases.format == "2wikimultihopqa" and len(aliases.examples) == 1000 and not aliases.problems
    assert aliases.examples[1].answers == ["Mask of Fu Manchu", "The Mask of Fu Manchu"]
    assert aliases.examples[2].answers == ["12 June 1516"]  # a plain string answer becomes a list
    assert aliases.examples[2].id == "2"  # test_id
    train = load_dataset(str(SHARED / "musique" / "train_sample100_with_paragraphs.json"), label="musique-train")
    assert train.format == "musique" and len(train.examples) == 100
    ex = next(e for e in train.examples if e.answers[0] == "G. Stanley Hall")
    assert ex.answers == ["G. Stanley Hall", "Stanley Hall"] and ex.dataset == "musique-train"
    assert ex.context is not None and len(ex.context) == 20
    full = load_dataset(SHARED / "hotpotqa" / "hotpot_dev_v1_simplified.json", limit=5)
    assert full.total_rows == 7405 and [e.id for e in full.examples] == ["0", "1", "2", "3", "4"]
    assert full.dataset == "hotpot_dev_v1_simplified.json"  # a file is labelled by its file name


@needs_shared
def test_default_data_dir_and_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the repo root: ../shared/data from the cwd
    assert default_data_dir().resolve() == SHARED.resolve()
    assert len(load_dataset("popqa").examples) == 1000
    monkeypatch.chdir(tmp_path)  # no ../shared/data here: falls back to the one next to the repo
    assert default_data_dir().resolve() == SHARED.resolve()
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match=DATA_DIR_ENV):
        load_dataset("popqa")


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_jsonl_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    good = {"id": "q1", "question": "Who wrote Hamlet?", "golden_answers": ["Shakespeare", "William Shakespeare"]}
    lines = [
        json.dumps(good),                                                        # 1 ok
        '{"id": "q2", "question": "broken", ',                                   # 2 invalid JSON
        json.dumps({"id": "q3", "golden_answers": ["x"]}),                       # 3 no question
        json.dumps({"id": "q4", "question": "Empty?", "golden_answers": []}),    # 4 empty answers
        json.dumps({"id": "q5", "question": "Types?", "golden_answers": [{"a": 1}]}),  # 5 wrong answer type
        "",                                                                      # 6 blank: ignored
        json.dumps(["not", "an", "object"]),                                     # 7 not an object
        json.dumps({"id": "q8", "question": 42, "golden_answers": ["x"]}),       # 8 question not a string
        json.dumps({"id": "q9", "question": "   ", "golden_answers": ["x"]}),    # 9 blank question
        json.dumps({"id": "q10", "question": "Capital of France?", "golden_answers": ["Paris", "", "Paris"]}),
        json.dumps(good),                                                        # 11 duplicate id
        json.dumps({"question": "No id here?", "golden_answers": "yes"}),        # 12 ok, id = line number
    ]
    result = load_dataset(_write_jsonl(tmp_path / "mixed.txt", lines))  # format from content, not extension
    assert result.format == "flashrag"
    assert [ex.id for ex in result.examples] == ["q1", "q10", "12"]
    assert result.examples[1].answers == ["Paris"]  # blanks and duplicates dropped
    assert result.examples[2].answers == ["yes"]
    assert [p.line for p in result.problems] == [2, 3, 4, 5, 7, 8, 9, 11]
    assert all(p.index is None and p.file.endswith("mixed.txt") for p in result.problems)
    messages = {p.line: p.message for p in result.problems}
    assert "invalid JSON" in messages[2]
    assert "question" in messages[3] and "golden_answers" in messages[5]
    assert "answers" in messages[4] and "JSON object" in messages[7] and "duplicate id 'q1'" in messages[11]
    assert "line 2" in str(result.problems[0])


def test_malformed_json_array_rows_report_indices(tmp_path: Path) -> None:
    rows = [
        {"question": "Q0?", "answer": "A0"},
        {"question": "Q1?"},
        {"question": "Q2?", "answer": ["alias a", "alias b"]},
        {"question": "Q3?", "answer": {"text": "nested"}},
        "just a string",
        {"question": "Q5?", "answer": "A5", "answer_aliases": ["a five"]},
    ]
    path = tmp_path / "array.jsonl"  # a JSON array despite the .jsonl name
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    result = load_dataset(path)
    assert result.format == "qa"
    assert [ex.id for ex in result.examples] == ["0", "2", "5"]
    assert result.examples[1].answers == ["alias a", "alias b"]
    assert result.examples[2].answers == ["A5", "a five"]  # aliases merged in any format
    assert [(p.index, p.line) for p in result.problems] == [(1, None), (3, None), (4, None)]


def test_jsonl_with_crlf_bom_and_unicode_line_separator(tmp_path: Path) -> None:
    rows = [{"id": "a", "question": "Line\u2028separator?", "golden_answers": ["x"]},
            {"id": "b", "question": "Second?", "golden_answers": ["y"]}]
    text = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = load_dataset(path)
    assert result.problems == [] and [e.id for e in result.examples] == ["a", "b"]


def test_context_layouts(tmp_path: Path) -> None:
    original = {"_id": "h1", "question": "Q?", "answer": "A", "supporting_facts": [["T1", 0]],
                "context": [["T1", ["One.", " Two."]], ["T2", ["Three."]]]}
    bad = {"_id": "h2", "question": "Q?", "answer": "A", "context": {"title": ["T1"], "sentences": []}}
    musique = {"id": "m1", "question": "Q?", "answer": "A", "answer_aliases": [],
               "paragraphs": [{"idx": 0, "title": "P", "paragraph_text": "Text.", "is_supporting": True}]}
    hotpot = load_dataset(_write_jsonl(tmp_path / "h.jsonl", [json.dumps(original), json.dumps(bad)]))
    assert hotpot.format == "hotpotqa" and [p.line for p in hotpot.problems] == [2]
    ctx = hotpot.examples[0].context
    assert ctx is not None and [(c.title, c.text) for c in ctx] == [("T1", "One. Two."), ("T2", "Three.")]
    mus = load_dataset(_write_jsonl(tmp_path / "m.jsonl", [json.dumps(musique)]))
    assert mus.format == "musique" and mus.examples[0].context[0].text == "Text."  # type: ignore[index]


def test_detect_format() -> None:
    assert detect_format({"id": "x", "question": "q", "golden_answers": []}) == "flashrag"
    assert detect_format({"test_id": 0, "question": "q", "answer": []}) == "2wikimultihopqa"
    assert detect_format({"_id": "x", "question": "q", "answer": "a", "context": []}) == "hotpotqa"
    assert detect_format({"id": "x", "question": "q", "answer": "a", "answer_aliases": []}) == "musique"
    assert detect_format({"question": "q", "answer": "a"}) == "qa"
    assert detect_format({"text": "q", "label": "a"}) is None


def _numbered(tmp_path: Path, n: int = 50) -> Path:
    rows = [{"id": f"q{i}", "question": f"Question {i}?", "golden_answers": [str(i)]} for i in range(n)]
    return _write_jsonl(tmp_path / "n.jsonl", [json.dumps(r) for r in rows])


def test_seeded_sampling_is_deterministic(tmp_path: Path) -> None:
    path = _numbered(tmp_path)
    a = [e.id for e in load_dataset(path, limit=10, seed=7).examples]
    b = [e.id for e in load_dataset(path, limit=10, seed=7).examples]
    c = [e.id for e in load_dataset(path, limit=10, seed=8).examples]
    assert a == b and a != c and len(set(a)) == 10
    assert a == sorted(a, key=lambda i: int(i[1:]))  # returned in file order
    assert a == [f"q{i}" for i in sorted(random.Random(7).sample(range(50), 10))]  # Router-R1's draw
    assert [e.id for e in load_dataset(path, limit=3).examples] == ["q0", "q1", "q2"]
    assert len(load_dataset(path, limit=500, seed=1).examples) == 50
    assert len(load_dataset(path, seed=1).examples) == 50
    assert load_dataset(path, limit=0).examples == [] and load_dataset(path, limit=0).total_rows == 50
    with pytest.raises(ValueError, match="limit"):
        load_dataset(path, limit=-1)


@needs_shared
def test_seeded_sampling_on_real_data() -> None:
    one = load_dataset("musique", data_dir=SHARED, limit=100, seed=42).examples
    two = load_dataset("musique", data_dir=SHARED, limit=100, seed=42).examples
    assert one == two and len(one) == 100


def test_unknown_name_and_missing_path() -> None:
    with pytest.raises(ValueError) as info:
        load_dataset("squad")
    message = str(info.value)
    assert "squad" in message and "path" in message
    assert all(name in message for name in DATASET_FILES)
    with pytest.raises(FileNotFoundError, match="no such dataset file"):
        load_dataset("does/not/exist.jsonl")


def test_example_model_is_strict() -> None:
    ex = Example(id="1", question=" Q? ", answers=["a"], dataset="d")
    assert ex.question == "Q?" and ex.context is None
    with pytest.raises(ValidationError):
        Example(id="1", question="Q?", answers=[], dataset="d")
    with pytest.raises(ValidationError):
        Example(id="1", question="Q?", answers=["a"], dataset="d", extra="no")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ex.question = "changed"  # type: ignore[misc]


def test_a_line_that_is_not_utf8_is_one_bad_row_with_its_file_and_line(tmp_path: Path) -> None:
    """One latin-1 byte used to reject the whole file with a bare codec error; now only its line is skipped."""
    good = [json.dumps({"id": f"q{i}", "question": f"Q{i}?", "answer": "a"}).encode() for i in (1, 3)]
    bad = '{"id": "q2", "question": "Caf\u00e9?", "answer": "a"}'.encode("latin-1")
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join([good[0], bad, good[1]]) + b"\n")  # a BOM too
    result = load_dataset(path)
    assert [e.id for e in result.examples] == ["q1", "q3"]
    assert [(p.line, p.message.split(";")[0]) for p in result.problems] == [(2, "not UTF-8: byte 0xe9 at column 30")]
    assert str(result.problems[0]).startswith(f"{path} (line 2): not UTF-8") and "save the file as UTF-8" in str(result.problems[0])
    array = tmp_path / "latin.json"  # in a JSON array, only the element holding the byte
    array.write_bytes(b"[" + b",".join([good[0], bad, good[1]]) + b"]")
    result = load_dataset(array)
    assert [e.id for e in result.examples] == ["q1", "q3"]
    assert [(p.index, p.message.split(";")[0]) for p in result.problems] == [(1, "not UTF-8: byte 0xe9")]


def test_numeric_answers_and_the_answers_field(tmp_path: Path) -> None:
    rows = [{"id": "a", "question": "How many legs has a spider?", "answer": 8},
            {"id": "b", "question": "Pi to two places?", "answer": [3.14, "3.14159"]},
            {"id": "c", "question": "Plural field?", "answers": ["x", 2]},
            {"id": "d", "question": "Both?", "answer": "x", "answers": ["y"]},
            {"id": "e", "question": "A bool?", "answer": True}]
    result = load_dataset(_write_jsonl(tmp_path / "nums.jsonl", [json.dumps(r) for r in rows]))
    assert result.format == "qa"
    assert [(e.id, e.answers) for e in result.examples] == [("a", ["8"]), ("b", ["3.14", "3.14159"]), ("c", ["x", "2"])]
    messages = {p.line: p.message for p in result.problems}
    assert "both 'answer' and 'answers'" in messages[4] and "got bool" in messages[5]
    flash = load_dataset(_write_jsonl(tmp_path / "f.jsonl", [json.dumps({"question": "Q?", "golden_answers": [1889]})]))
    assert flash.examples[0].answers == ["1889"]
    plural_first = load_dataset(_write_jsonl(tmp_path / "p.jsonl", [json.dumps(rows[2])]))
    assert plural_first.format == "qa" and plural_first.examples[0].answers == ["x", "2"]
    nothing = load_dataset(_write_jsonl(tmp_path / "n.jsonl", [json.dumps({"question": "Q?", "label": "a"}),
                                                               json.dumps(rows[0])]))
    assert "expected 'question' with 'answer', 'answers' or 'golden_answers'; it has 'question', 'label'" in \
        nothing.problems[0].message and [e.id for e in nothing.examples] == ["a"]


def test_a_row_in_another_format_than_the_first_says_which_format_the_file_was_read_as(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "question": "Q?", "golden_answers": ["x"]}),
             json.dumps({"id": "b", "question": "Q?", "answer": "x"}),
             json.dumps({"id": "c", "question": "Q?"})]
    result = load_dataset(_write_jsonl(tmp_path / "mixed.jsonl", lines))
    assert [e.id for e in result.examples] == ["a"]
    two, three = (p.message for p in result.problems)
    assert two.startswith("missing 'golden_answers' (the file is read as flashrag format, detected from its first row "
                          "at line 1; this row has 'id', 'question', 'answer', which is qa format: use one format")
    assert three.startswith("missing 'golden_answers' (the file is read as flashrag format") and three.endswith(
        "this row has 'id', 'question')")


def test_a_csv_file_is_refused_naming_what_is_read_instead(tmp_path: Path) -> None:
    path = tmp_path / "questions.csv"
    path.write_text("id,question,answer\nq1,How many legs has a spider?,8\nq2,Capital of France?,Paris\n")
    with pytest.raises(ValueError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message.startswith(f"{path}: no line is a JSON object") and "CSV is not supported" in message
    assert "JSON Lines" in message and "line 1: invalid JSON" in message
    renamed = path.rename(tmp_path / "questions.txt")  # by content, not by name
    with pytest.raises(ValueError, match="CSV is not supported"):
        load_dataset(renamed)


def test_a_file_is_labelled_by_its_file_name_never_as_the_benchmark(tmp_path: Path) -> None:
    from routeweave.evals.qa.catalog import resolve_dataset

    mine = _write_jsonl(tmp_path / "nq.jsonl", [json.dumps({"question": "Q?", "answer": "a"})])
    assert load_dataset(mine).dataset == "nq.jsonl" and resolve_dataset(str(mine)) == ("nq.jsonl", mine)
    bare = _write_jsonl(tmp_path / "HotpotQA", [json.dumps({"question": "Q?", "answer": "a"})])
    with pytest.raises(ValueError, match=r"named like the catalog dataset 'hotpotqa'.*rename it .*HotpotQA.jsonl"):
        load_dataset(bare)
