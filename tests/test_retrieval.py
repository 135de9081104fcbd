"""The retrieval expert: BM25 ranking, hostile queries, corpus errors, index caching."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from routeweave.agents import bm25 as retrieval
from routeweave.agents.bm25 import Passage, Retriever, format_passages, open_retriever, query_terms

ROWS = [
    {"title": "Photosynthesis", "text": "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make sugar. Chlorophyll absorbs the light."},
    {"title": "Mitochondrion", "text": "The mitochondrion is an organelle that produces most of the chemical energy of the cell."},
    {"title": "Stone Town", "text": "The old quarter of the capital of the island, known for its carved wooden doors and narrow lanes."},
    {"title": "Green tea", "text": "Green tea is made from leaves of Camellia sinensis that have not been withered and oxidised."},
    {"title": "Ada Lovelace", "text": "Ada Lovelace was an English mathematician who wrote the first published algorithm for Babbage's Analytical Engine."},
    {"title": "Mount Kilimanjaro", "text": "Kilimanjaro is a dormant volcano in Tanzania and the highest mountain in Africa."},
]


def write_corpus(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.jsonl", ROWS)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    d = tmp_path_factory.mktemp("small")
    return Retriever(write_corpus(d / "corpus.jsonl", ROWS), d / "cache")


def titles(passages: list[Passage]) -> list[str]:
    return [p.title for p in passages]


def test_ranking_puts_the_obvious_paragraph_first(small: Retriever) -> None:
    hits = small.search("How do plants turn sunlight into sugar?", k=3)
    assert titles(hits)[0] == "Photosynthesis"
    assert all(p.score > 0 for p in hits) and hits == sorted(hits, key=lambda p: -p.score)
    assert titles(small.search("highest mountain in Africa", k=1)) == ["Mount Kilimanjaro"]
    assert len(small.search("the", k=2)) <= 2


def test_title_matches_count(small: Retriever) -> None:
    # "Stone Town" appears only in the title
    assert titles(small.search("Where is Stone Town?", k=1)) == ["Stone Town"]


def test_stop_words_are_dropped_unless_nothing_else_is_left() -> None:
    assert query_terms("What is the capital of the island?") == ["capital", "island"]
    assert query_terms("The Who") == ["the", "who"]
    assert query_terms("  ?!  ") == []


HOSTILE = ['"', "NEAR(a b)", "a AND OR NOT", "", "(((", "*", "title:foo", "^green", "green*",
           "'; drop table passages; --", "Ünïcödé 東京 🌋 مرحبا", "x" * 10_000, "green " * 5_000, "\x00\n\t"]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(small: Retriever, query: str) -> None:
    hits = small.search(query, k=3)
    assert isinstance(hits, list) and len(hits) <= 3
    if query in ("", '"', "(((", "*", "\x00\n\t"):
        assert hits == []


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_any_text_is_a_safe_query(small: Retriever, query: str) -> None:
    assert len(small.search(query, k=2)) <= 2


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "not valid JSON"),
        ('{"title": "x"}', "text"),
        ('{"title": "x", "text": "y", "url": "z"}', "url"),
        ('{"title": "x", "text": 3}', "text"),
        ('["x", "y"]', "expected"),
    ],
)
def test_a_bad_row_names_the_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"bad\.jsonl:3: .*{why}"):
        Retriever(path, tmp_path / "cache").search("plants", k=1)
    assert not list((tmp_path / "cache").glob("*")), "a failed build leaves nothing behind"


def test_bad_corpus_specs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        open_retriever(str(tmp_path / "missing.jsonl"), tmp_path)
    with pytest.raises(ValueError, match="builtin:hotpotqa"):
        open_retriever("builtin:nope", tmp_path)
    with pytest.raises(ValueError, match=r"\.jsonl"):
        open_retriever(str(tmp_path / "corpus.csv"), tmp_path)
    with pytest.raises(ValueError, match="no passages"):
        Retriever(write_corpus(tmp_path / "empty.jsonl", []), tmp_path).search("x", k=1)


def test_index_is_rebuilt_when_the_corpus_changes(tmp_path: Path, corpus: Path) -> None:
    r = open_retriever(str(corpus), tmp_path / "cache")
    assert r.search("zebra", k=1) == []
    write_corpus(corpus, [*ROWS, {"title": "Zebra", "text": "Zebras are African equines with stripes."}])
    assert open_retriever(str(corpus), tmp_path / "cache") is r
    assert titles(r.search("zebra stripes", k=1)) == ["Zebra"]
    assert len(list((tmp_path / "cache").glob("*.sqlite"))) == 2


def test_index_file_is_reused_by_a_second_retriever(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = Retriever(corpus, tmp_path / "cache").ensure_index()
    before = index.stat().st_mtime_ns

    def no_rebuild(*args: object) -> None:
        raise AssertionError("index rebuilt")

    monkeypatch.setattr(retrieval, "_build_index", no_rebuild)
    second = Retriever(corpus, tmp_path / "cache")
    assert titles(second.search("green tea leaves", k=1)) == ["Green tea"]
    assert second.ensure_index() == index and index.stat().st_mtime_ns == before


def test_open_retriever_is_cached_and_lazy(tmp_path: Path, corpus: Path) -> None:
    r = open_retriever(str(corpus), tmp_path / "cache")
    assert open_retriever(str(corpus), Path(str(tmp_path / "cache"))) is r
    assert not (tmp_path / "cache").exists(), "nothing is built before the first search"


def test_concurrent_searches_share_one_build(tmp_path: Path, corpus: Path) -> None:
    r = Retriever(corpus, tmp_path / "cache")
    queries = ["plants sunlight", "cell energy", "volcano Africa", "mathematician algorithm"] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: titles(r.search(q, k=1)), queries))
    assert results[:4] == [["Photosynthesis"], ["Mitochondrion"], ["Mount Kilimanjaro"], ["Ada Lovelace"]]
    assert results == results[:4] * 8
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".sqlite"]


def test_format_passages_numbers_and_clips_at_a_word() -> None:
    long = Passage(title="Long", text="word " * 200, score=1.0)
    out = format_passages([Passage(title="Short", text="Two\nlines.", score=2.0), long], max_chars=50)
    first, second = out.splitlines()
    assert first == "(1) Short: Two lines."
    body = second.removeprefix("(2) Long: ")
    assert len(body) <= 50 and body.endswith("word…")
    assert format_passages([]) == "(no passages found)"
    with pytest.raises(ValidationError):
        Passage(title="t", text="x", score=1.0, url="u")  # type: ignore[call-arg]


def test_builtin_corpus_answers_a_hotpotqa_question(tmp_path: Path) -> None:
    # Questions 5a89da93554299669944a5cc and 5abace6b5542996cc5e49e99 of the shipped sample (gold titles checked).
    r = open_retriever("builtin:hotpotqa", tmp_path)
    hits = titles(r.search("Kiskiack is a building that still stands at what York County, Virginia naval base?", k=5))
    assert hits[0] == "Kiskiack (Lee House)" and "Naval Weapons Station Yorktown" in hits
    assert "Arthur Quinlan" in titles(r.search("Irish print journalist Arthur Quinlan", k=3))


QUESTION_ROWS = [  # a bare name ranks its namesake house first; the question knows it means the playwright
    {"title": "Harold Pinter House", "text": "Harold Pinter House is a listed building in London, named after Harold Pinter."},
    {"title": "Harold Pinter", "text": "Harold Pinter was a British playwright, born in 1930 in Hackney."},
    {"title": "Playwright", "text": "A playwright writes plays; many a playwright was born in London in 1930."},
]


@pytest.fixture(scope="module")
def pinter(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    d = tmp_path_factory.mktemp("pinter")
    return Retriever(write_corpus(d / "corpus.jsonl", QUESTION_ROWS), d / "cache")


def test_the_question_ranks_what_a_bare_name_finds(pinter: Retriever) -> None:
    question = "In what year was the playwright Harold Pinter born?"
    assert titles(pinter.search("Harold Pinter", k=1)) == ["Harold Pinter House"]
    ranked = titles(pinter.search("Harold Pinter", k=3, context=question))
    assert ranked == ["Harold Pinter", "Harold Pinter House"]  # "Playwright" matches only the question's words
    assert pinter.search("Harold Pinter", k=3, context="") == pinter.search("Harold Pinter", k=3)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200), st.text(max_size=400))
def test_any_question_is_a_safe_context(small: Retriever, query: str, context: str) -> None:
    hits = small.search(query, k=3, context=context)
    assert len(hits) <= 3 and set(titles(hits)) <= set(titles(small.search(query, k=len(ROWS))))


def test_builtin_corpus_ranks_by_the_question(tmp_path: Path) -> None:
    # Training question 5a7d1c525542995ed0d165f2: the trained router searched "The Island".
    r = open_retriever("builtin:hotpotqa", tmp_path)
    question = "Where is the host of the American survival skills reality show, The Island, originally from?"
    assert titles(r.search("The Island", k=2))[0] == "Rose Island, Bahamas"
    assert titles(r.search("The Island", k=2, context=question))[0] == "The Island (U.S. TV series)"
