"""EM / F1 on hand-computed cases, and the run summary."""

from __future__ import annotations

import pytest

from routeweave.evals.qa.metrics import Summary, answer_seen, exact_match, f1, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  an   apple,  a pear ", "apple pear"),
        ("Athena and the Anthem", "athena and anthem"),  # articles only as whole words
        ("U.S.A.", "usa"),
        ("Jean-Paul Sartre", "jeanpaul sartre"),  # SQuAD drops the hyphen without a space
        ("O\u2019Neill \u201cJr.\u201d \u2013 \u00abx\u00bb\u2026", "oneill jr x"),  # Unicode punctuation
        ("Jose\u0301", "jos\u00e9"),  # NFC: decomposed accent == composed accent
        ("Ma\u0142gorzata BRAUNEK", "ma\u0142gorzata braunek"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_answer(text: str | None, expected: str) -> None:
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("prediction", "golds", "em"),
    [
        ("the Eiffel Tower!", ["Eiffel Tower"], 1.0),
        ("An apple", "apple", 1.0),  # a single gold string is accepted
        ("usa", ["U.S.A."], 1.0),
        ("Mark Twain.", ["Samuel Clemens", "Mark Twain"], 1.0),  # any alias
        ("Samuel L. Clemens", ["Samuel Clemens", "Mark Twain"], 0.0),
        ("Paris, France", ["Paris"], 0.0),
        ("Jean Paul", ["Jean-Paul"], 0.0),  # "jean paul" != "jeanpaul" (SQuAD behaviour)
        ("MA\u0141GORZATA BRAUNEK", ["Ma\u0142gorzata Braunek"], 1.0),
        ("O\u2019Neill", ["O'Neill"], 1.0),
        ("Jos\u00e9", ["Jose"], 0.0),  # accents are not stripped
        ("\u6771\u4eac", ["\u6771\u4eac"], 1.0),
        ("!!!", ["!!!"], 1.0),  # gold that normalises to "" is compared on raw text
        ("the the", ["The The"], 1.0),
        ("the", ["The The"], 0.0),
        ("", ["!!!"], 0.0),
        (None, ["Paris"], 0.0),
        ("", ["Paris"], 0.0),
        ("   ", ["Paris"], 0.0),
        ("the", ["Paris"], 0.0),
        ("Paris", [], 0.0),
        ("Paris", None, 0.0),
    ],
)
def test_exact_match(prediction: str | None, golds: list[str] | str | None, em: float) -> None:
    assert exact_match(prediction, golds) == em


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Barack Obama", ["Obama"], 2 / 3),  # P=1/2 R=1
        ("the Eiffel Tower in Paris", ["Eiffel Tower"], 2 / 3),  # 4 tokens after normalising, 2 shared
        ("Samuel L. Clemens", ["Mark Twain", "Samuel Clemens"], 0.8),  # best alias: P=2/3 R=1
        ("new new york", ["new york"], 0.8),  # shared counts are clipped: 2 of 3
        ("Eiffel", ["the Eiffel Tower"], 2 / 3),  # P=1 R=1/2
        ("Eiffel Tower", ["Eiffel Tower"], 1.0),
        ("London", ["Paris"], 0.0),
        ("yes it is", ["yes"], 0.0),  # HotpotQA rule: yes/no must match exactly
        ("no", ["yes"], 0.0),
        ("yes", ["Yes."], 1.0),
        ("Jos\u00e9 Mourinho", ["Jose Mourinho"], 0.5),
        (None, ["Paris"], 0.0),
        ("", ["Paris"], 0.0),
        ("a an the", ["Paris"], 0.0),
        ("!!!", ["!!!"], 1.0),
        ("Paris", [], 0.0),
    ],
)
def test_f1(prediction: str | None, golds: list[str], expected: float) -> None:
    assert f1(prediction, golds) == pytest.approx(expected)


def _row(dataset: str, em: float, f: float, cost: float, units: float, rounds: int, calls: int, lat: float,
         error: str | None = None) -> dict[str, object]:
    return {"dataset": dataset, "em": em, "f1": f, "cost_usd": cost, "cost_units": units, "rounds": rounds,
            "expert_calls": calls, "latency_s": lat, "error": error}


def test_summary_per_dataset_and_overall() -> None:
    rows = [
        _row("nq", 1.0, 1.0, 0.002, 10.0, 2, 1, 1.0),
        _row("nq", 0.0, 0.5, 0.004, 30.0, 4, 3, 3.0),
        _row("hotpotqa", 1.0, 1.0, 0.006, 20.0, 3, 2, 2.0),
        {"dataset": "hotpotqa", "em": None, "f1": None, "cost_usd": None, "cost_units": None, "rounds": None,
         "expert_calls": None, "latency_s": None, "error": "timeout"},
    ]
    s = Summary.from_rows(rows)
    assert list(s.datasets) == ["hotpotqa", "nq"]
    nq = s.datasets["nq"]
    assert (nq.count, nq.em, nq.f1, nq.errors) == (2, 0.5, 0.75, 0)
    assert nq.cost_usd_total == pytest.approx(0.006) and nq.cost_usd_mean == pytest.approx(0.003)
    assert (nq.cost_units_total, nq.cost_units_mean) == (40.0, 20.0)
    assert (nq.rounds_mean, nq.expert_calls_mean, nq.latency_s_mean) == (3.0, 2.0, 2.0)
    hp = s.datasets["hotpotqa"]
    assert (hp.count, hp.em, hp.f1, hp.errors) == (2, 0.5, 0.5, 1)  # the errored row counts as wrong
    assert hp.cost_usd_total == pytest.approx(0.006)
    o = s.overall
    assert (o.count, o.em, o.f1, o.errors) == (4, 0.5, 0.625, 1)
    assert o.cost_usd_total == pytest.approx(0.012) and o.cost_usd_mean == pytest.approx(0.003)
    assert (o.cost_units_total, o.rounds_mean, o.expert_calls_mean, o.latency_s_mean) == (60.0, 2.25, 1.5, 1.5)
    table = s.markdown().splitlines()
    assert len(table) == 5 and table[-1].startswith("| overall | 4 | 0.500 | 0.625 |")


def test_summary_accepts_objects_and_empty_input() -> None:
    class Row:
        dataset = "popqa"
        em, f1, cost_usd, cost_units, rounds, expert_calls, latency_s, error = 1, 1, 0.0, 0.0, 1, 0, 0.5, None

    s = Summary.from_rows([Row()])
    assert s.overall.count == 1 and s.datasets["popqa"].em == 1.0
    empty = Summary.from_rows([])
    assert empty.overall.count == 0 and empty.overall.em == 0.0 and empty.datasets == {}


def test_summary_rejects_non_numbers() -> None:
    with pytest.raises(ValueError, match="row 0: em"):
        Summary.from_rows([{"dataset": "nq", "em": "yes"}])
    with pytest.raises(ValueError, match="row 0: seen"):
        Summary.from_rows([{"dataset": "nq", "em": 1, "seen": "found"}])


def test_answer_seen_splits_not_found_from_found_but_not_given() -> None:
    replies = ["(1) Eiffel Tower: built in 1889 by Gustave Eiffel.", None, ""]
    assert answer_seen(replies, ["1889"]) == 1.0
    assert answer_seen(replies, ["The Gustave Eiffel!"]) == 1.0  # normalised like EM
    assert answer_seen(replies, ["Eiffel Towers", "188"]) == 0.0  # whole words only
    assert answer_seen(replies, ["yes"]) is None and answer_seen(replies, []) is None  # nothing to find
    assert answer_seen([None, ""], ["1889"]) is None  # no reply read at all


def test_summary_reports_how_often_a_found_answer_was_given() -> None:
    base = {"dataset": "hotpotqa", "f1": 0.0, "cost_usd": 0.0, "cost_units": 0.0, "rounds": 1, "expert_calls": 1,
            "latency_s": 0.1, "error": None}
    rows = [{**base, "em": 1.0, "seen": 1.0}, {**base, "em": 0.0, "seen": 1.0}, {**base, "em": 0.0, "seen": 1.0},
            {**base, "em": 0.0, "seen": 0.0}, {**base, "em": 1.0, "seen": None}]
    s = Summary.from_rows(rows).overall
    assert s.seen == pytest.approx(0.75) and s.em_if_seen == pytest.approx(1 / 3)
    assert Summary.from_rows(rows).markdown().splitlines()[-1].endswith("| 0.750 | 0.333 |")
    old = Summary.from_rows([{k: v for k, v in r.items() if k != "seen"} for r in rows]).overall  # rows stored before
    assert old.seen is None and old.em_if_seen is None
