"""Training data: teacher trajectories in the graph's own format, data discipline (held-out lines never
read), masking on the router's tokens only, bad input named by file and field. Needs no torch except
the masking test (the tokenizer)."""

from __future__ import annotations

import json
import random

import pytest

from routeweave.agents.bm25 import format_passages, open_retriever
from routeweave.evals.qa.datasets import load_dataset
from routeweave.training import teacher
from routeweave.training._graph import grammar, prompt, protocol, prompt_version
from routeweave.training.base import TrainingError
from routeweave.training.expert_lists import RETRIEVAL_NAMES, embedded_default, varied
from routeweave.training.records import read_trajectories, write_jsonl
from routeweave.training.sources import hotpotqa_train, musique_train

from support.train import SHARED, require_shared, require_train_extra


@pytest.fixture(scope="module")
def hotpot():
    require_shared()
    return hotpotqa_train(SHARED, lines=(1, 30))


@pytest.fixture(scope="module")
def built(hotpot, tmp_path_factory):
    search = teacher.retrieval_search(open_retriever("builtin:hotpotqa", tmp_path_factory.mktemp("cache")), 2)
    rng = random.Random(0)
    out = []
    for ex in hotpot:
        pool = embedded_default(len(ex.hops)) if len(out) % 2 else varied(rng, min_rounds=len(ex.hops))
        if (t := teacher.build(ex, pool, search, prompt_version=prompt_version())) is not None:
            out.append(t)
    return out


def test_heldout_lines_are_never_read_for_training():
    require_shared()
    with pytest.raises(TrainingError, match="held-out"):
        hotpotqa_train(SHARED, lines=(1, 351))
    train_ids = {ex.id for ex in hotpotqa_train(SHARED)}
    held = load_dataset("hotpotqa-heldout", data_dir=SHARED).examples
    assert len(train_ids) == 350 and len(held) == 150
    assert not train_ids & {ex.id for ex in held}


def test_teacher_turns_parse_with_the_graphs_parser_and_fit_its_grammar(built):
    assert len(built) >= 20  # most of 30 questions give a trajectory
    for t in built:
        router_turns = [m.content for m in t.messages if m.role == "assistant"]
        for i, text in enumerate(router_turns):
            turn = protocol.parse_turn(text, t.experts, max_searches=2)
            assert isinstance(turn, protocol.Turn) and not turn.repairs, (t.id, text)
            assert turn.kind == ("answer" if i == len(router_turns) - 1 else "search")
            assert 0 < len(turn.think) <= grammar.THINK_CHARS
            assert all(len(s.query) <= grammar.QUERY_CHARS for s in turn.searches)
        # the evidence is the real retriever's reply, in the graph's <information> message
        infos = [m.content for m in t.messages if m.role == "user" and m.content.startswith("<information>")]
        assert len(infos) == len(router_turns) - 1 and all("(1) " in i or "No passage" in i for i in infos)


def test_brief_answer_think_changes_only_the_last_think(hotpot, tmp_path):
    """--answer-think brief (the default) against quote: the same trajectories (the same questions dropped for missing evidence),
    the same searches and answers; only the last turn's <think> becomes the fixed sentence."""
    search = teacher.retrieval_search(open_retriever("builtin:hotpotqa", tmp_path), 2)
    pool, changed = embedded_default(3), 0
    for ex in hotpot[:12]:
        quote = teacher.build(ex, pool, search, prompt_version="v", answer_think="quote")
        brief = teacher.build(ex, pool, search, prompt_version="v", answer_think="brief")
        assert (quote is None) == (brief is None)
        if quote is None:
            continue
        assert quote.messages[:-1] == brief.messages[:-1]
        q, b = (protocol.parse_turn(t.messages[-1].content, t.experts) for t in (quote, brief))
        assert q.answer == b.answer and b.kind == "answer" and not b.repairs
        if b.think != q.think:
            assert b.think == teacher.BRIEF_THINK
            changed += 1
    assert changed >= 5


def test_rank_by_question_shows_the_teacher_what_the_pool_shows(hotpot, tmp_path):
    """--rank-by-question: the teacher's searches rank passages by the question too, exactly as the retrieval
    expert with `rank_by_question` does in the graph; the searches and the answers stay the same."""
    retriever = open_retriever("builtin:hotpotqa", tmp_path)
    plain, ranked = (teacher.retrieval_search(retriever, 2, rank) for rank in (False, True))
    pool, differ = embedded_default(3), 0
    for ex in hotpot[:12]:
        a = teacher.build(ex, pool, plain, prompt_version="v")
        b = teacher.build(ex, pool, ranked, prompt_version="v")
        if a is None or b is None:
            continue
        turns = [[m.content for m in t.messages if m.role == "assistant"] for t in (a, b)]
        assert turns[0][:-1] == turns[1][:-1]  # the same searches (the answer turn's think may quote other evidence)
        for turn in (m.content for m in b.messages[2:] if m.role == "assistant"):
            for query in (q.query for q in protocol.parse_turn(turn, b.experts).searches):
                shown = format_passages(retriever.search(query, 2, context=ex.question))
                assert shown[:200] in "".join(m.content for m in b.messages if m.role == "user")  # the block may cut more
        differ += a.messages != b.messages
    assert differ >= 3


def test_the_teacher_reads_the_view_the_pool_shows(hotpot, tmp_path):
    """A pool's retrieval view (top_k, passage_chars, reply_chars) is what the teacher's trajectories show."""
    retriever = open_retriever("builtin:hotpotqa", tmp_path)
    search = teacher.retrieval_search(retriever, 3, True, passage_chars=120, reply_chars=260)
    built = [(ex, t) for ex in hotpot[:6] if (t := teacher.build(ex, embedded_default(3), search, prompt_version="v"))]
    cut = 0
    for ex, t in built:
        shown_to_router = "".join(m.content for m in t.messages if m.role == "user")
        for turn in (m.content for m in t.messages[2:] if m.role == "assistant"):
            for query in (q.query for q in protocol.parse_turn(turn, t.experts).searches):
                whole = format_passages(retriever.search(query, 3, context=ex.question), max_chars=120)
                assert whole[:260] in shown_to_router and (len(whole) <= 260 or whole[:261] not in shown_to_router)
                cut += len(whole) > 260
    assert cut >= 3


def test_system_prompt_is_the_graphs_own(built):
    default = embedded_default()
    t = next(t for t in built if t.experts == [e.name for e in default.experts])
    assert t.messages[0].content == prompt.system_prompt(default.experts, budget_usd=default.budget_usd,
                                                          max_rounds=default.max_rounds)


def test_varied_pools_change_names_and_order():
    rng = random.Random(1)
    lists = {tuple(e.name for e in varied(rng).experts) for _ in range(30)}
    assert len(lists) > 10


def test_varied_pools_name_retrievers_beyond_any_fixed_list():
    """`--made-up-names 0.5` (the recipe's default): half the pools use made-up names, so the router must find
    the retriever by what the list says of it, not by a name it memorised. A share of 0 keeps the fixed names
    (the tenth session's recipe)."""
    rng = random.Random(2)
    pools = [varied(rng, made_up_share=0.5) for _ in range(400)]
    names = {p.retrieval for p in pools}
    assert len(names - set(RETRIEVAL_NAMES)) > 100
    assert {p.retrieval for p in (varied(rng) for _ in range(200))} <= set(RETRIEVAL_NAMES)  # the default: none


def test_musique_decompositions_fill_in_earlier_answers():
    require_shared()
    ex = next(e for e in musique_train(SHARED) if len(e.hops) == 2)
    plan = teacher.musique_plan(ex)
    assert "#1" not in plan.turns[1][0] and ex.hops[0].answer.split()[0] in plan.turns[1][0]


def test_bad_trajectory_file_names_file_line_and_field(tmp_path, built):
    good = tmp_path / "t.jsonl"
    write_jsonl(good, built[:2])
    assert len(read_trajectories(good)) == 2
    rows = good.read_text().splitlines()
    broken = json.loads(rows[1])
    del broken["prompt_version"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(rows[0] + "\n" + json.dumps(broken) + "\n")
    with pytest.raises(TrainingError, match=r"bad\.jsonl:2: field 'prompt_version'"):
        read_trajectories(bad)


def test_masking_labels_exactly_the_router_turns(built):
    require_train_extra()
    from routeweave.training.base import load_tokenizer
    from routeweave.training.masking import encode, labelled_text

    tok = load_tokenizer()
    t = built[0]
    enc = encode(tok, t)
    want = "".join(m.content + "<|im_end|>" for m in t.messages if m.role == "assistant")
    assert labelled_text(tok, enc) == want
    info = next(m.content for m in t.messages if m.content.startswith("<information>"))
    assert info[20:60] not in labelled_text(tok, enc)
    assert sum(lab != -100 for lab in enc["labels"]) < len(enc["labels"]) / 3


def test_counterfactual_swaps_the_answer_in_evidence_and_target_only(built):
    """`train data --counterfactual 1`: each eligible trajectory's answer is swapped for another of its kind in
    every <information> and router turn after the question, so only reading gives it; nothing else changes.
    Yes/no answers and answers named by the question are left as they are."""
    from routeweave.training.counterfactual import _pattern, eligible, with_counterfactuals

    rows, swapped = with_counterfactuals(built, 1.0, seed=0)
    assert len(rows) == len(built) and swapped == sum(r.id.endswith(":cf") for r in rows) >= len(built) // 3
    for old, new in zip(built, rows):
        if not new.id.endswith(":cf"):
            assert new == old
            continue
        assert eligible(old) and new.answers != old.answers and new.question == old.question
        a, b = old.answers[0], new.answers[0]
        evidence = " ".join(m.content for m in new.messages if m.content.startswith("<information>"))
        assert _pattern(b).search(evidence) and not _pattern(a).search(evidence)
        assert new.messages[:2] == old.messages[:2]  # the prompt and the question
        turn = protocol.parse_turn(new.messages[-1].content, new.experts, max_searches=2)
        assert turn.kind == "answer" and turn.answer == b
        # swapping back gives the original session: nothing but the answer moved
        assert [_pattern(b).sub(a, m.content) for m in new.messages] == [m.content for m in old.messages]
    assert with_counterfactuals(built, 0.0, seed=0) == (built, 0)


def test_counterfactual_keeps_the_kind_of_answer():
    from routeweave.training.counterfactual import substitute

    rng = random.Random(0)
    others = ["Groundhog Day", "the English", "Blonde Redhead", "yes", "1968"]
    for _ in range(50):
        year = substitute("1994", others, rng)
        assert year != "1994" and 1964 <= int(year) <= 2024
        assert substitute("Bill Murray", others, rng) in {"Groundhog Day", "Blonde Redhead"}
        assert substitute("in 1994", others, rng).startswith("in ")
    assert substitute("the English", ["the English"], rng) is None
