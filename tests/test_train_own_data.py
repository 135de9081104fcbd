"""Training the router for your own pool and data (`routeweave train data --questions FILE --pool P`): your
questions' trajectories search your paragraphs with the real retriever, the sessions show your pool's
experts, and bad rows, held-out questions and unknown files are refused before anything is written."""

from __future__ import annotations

import gzip
import json
import subprocess

import pytest

from routeweave.training._graph import protocol
from routeweave.training.base import TrainingError
from routeweave.training.build_data import teacher_set
from routeweave.training.data_settings import DataSettings
from routeweave.training.export import write_stage_pool
from routeweave.training.sources import question_file

from support.train import SHARED, require_shared

# made-up facts, so that no answer can come from the shipped corpus or the model's memory
BRIDGE = {"_id": "own-1", "question": "Which river flows through the city where the Velmora Clockworks were founded?",
          "answer": "Tessaly River", "type": "bridge",
          "supporting_facts": [["Velmora Clockworks", 0], ["Brannoch", 0]],
          "context": [["Velmora Clockworks", ["Velmora Clockworks is a watchmaker founded in 1902 in the city of Brannoch."]],
                      ["Brannoch", ["Brannoch is a port city on the Tessaly River, ", "known for its nine bridges."]],
                      ["Orrin Vale", ["Orrin Vale is a valley of sheep farms and slate quarries."]]]}
COMPARISON = {"_id": "own-2", "question": "Who was born first, Ilsa Marrow or Dunstan Felgate?", "answer": "Ilsa Marrow",
              "type": "comparison", "supporting_facts": [["Ilsa Marrow", 0], ["Dunstan Felgate", 0]],
              "context": [["Ilsa Marrow", ["Ilsa Marrow (born 3 March 1911) was a Kandrian novelist."]],
                          ["Dunstan Felgate", ["Dunstan Felgate (born 1930) is a Kandrian painter of harbours."]]]}
MUSIQUE = {"id": "2hop__own_3", "question": "What instrument does the founder of the Quillon Ensemble play?",
           "answer": "viola", "answer_aliases": [],
           "question_decomposition": [
               {"question": "Who founded the Quillon Ensemble?", "answer": "Maren Oddly", "paragraph_support_idx": 0},
               {"question": "What instrument does #1 play?", "answer": "viola", "paragraph_support_idx": 1}],
           "paragraphs": [
               {"idx": 0, "title": "Quillon Ensemble", "paragraph_text": "The Quillon Ensemble was founded by Maren Oddly in 1988."},
               {"idx": 1, "title": "Maren Oddly", "paragraph_text": "Maren Oddly is a Kandrian musician who plays the viola."}]}


def _own_files(tmp_path):
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (BRIDGE, COMPARISON)))
    (tmp_path / "hops.json").write_text(json.dumps([MUSIQUE]))
    corpus = tmp_path / "handbook.jsonl"
    corpus.write_text(json.dumps({"title": "Kandria", "text": "Kandria is a made-up country of this test."}) + "\n")
    from routeweave.agents.pool import pool_path

    text = pool_path("embedded").read_text(encoding="utf-8")  # the embedded pool, its retriever renamed, on our corpus
    text = text.replace('name = "Wiki"', 'name = "Handbook"').replace('corpus = "builtin:hotpotqa"', f"corpus = {json.dumps(str(corpus))}")
    text = text.replace("Wikipedia search: ask it first", "The handbook: ask it first")
    (tmp_path / "mypool.toml").write_text(text)
    return tmp_path / "mine.jsonl", tmp_path / "hops.json", tmp_path / "mypool.toml"


def test_own_questions_search_their_paragraphs_in_the_pools_sessions(tmp_path):
    require_shared()
    mine, hops, pool = _own_files(tmp_path)
    settings = DataSettings(questions=[str(mine), str(hops)], questions_only=True, pool=str(pool), llm_share=0,
                            default_share=1.0, variants=1)
    rows, stats = teacher_set(SHARED, tmp_path / "work", settings)
    assert sorted(t.id for t in rows) == ["hops:2hop__own_3", "mine:own-1", "mine:own-2"], stats
    assert stats["questions held-out check"].startswith("checked")
    for t in rows:
        assert t.experts == ["Handbook", "SmolLM2"]  # the pool's own list, in the prompt too
        assert "Handbook" in t.messages[0].content and "Wiki" not in t.messages[0].content
        turns = [protocol.parse_turn(m.content, t.experts, max_searches=2) for m in t.messages if m.role == "assistant"]
        assert all(s.experts == ["Handbook"] for turn in turns[:-1] for s in turn.searches)
        evidence = " ".join(m.content for m in t.messages if m.role == "user")
        assert t.answers[0] in evidence  # read by the real retriever from the questions' own paragraphs
        assert turns[-1].answer == t.answers[0]
    bridge = next(t for t in rows if t.id == "mine:own-1")
    assert [s.query for turn in [protocol.parse_turn(m.content, t.experts, max_searches=2)
                                 for m in bridge.messages if m.role == "assistant"][:-1] for s in turn.searches] == [
        "Velmora Clockworks", "Brannoch"]
    with gzip.open(tmp_path / "work" / "corpus-train.jsonl.gz", "rt") as f:
        titles = {json.loads(line)["title"] for line in f}
    assert {"Brannoch", "Maren Oddly", "Kandria"} <= titles and len(titles) > 4000  # + the pool's corpus + the shipped one


def test_shipped_questions_are_kept_unless_questions_only(tmp_path):
    require_shared()
    mine, _, _ = _own_files(tmp_path)
    with pytest.raises(TrainingError, match="nothing to train on"):
        teacher_set(SHARED, tmp_path / "w0", DataSettings(questions_only=True, llm_share=0))
    examples = question_file(mine)
    assert [(e.dataset, e.label, [h.title for h in e.hops]) for e in examples] == [
        ("hotpotqa", "mine", ["Velmora Clockworks", "Brannoch"]), ("hotpotqa", "mine", ["Ilsa Marrow", "Dunstan Felgate"])]


@pytest.mark.parametrize("row, message", [
    ({"question": "Q?", "answer": "a"}, "neither HotpotQA's fields"),
    ({**BRIDGE, "supporting_facts": [["Nowhere", 0]]}, "'supporting_facts' names 'Nowhere'"),
    ({**BRIDGE, "context": "not paragraphs"}, "fields 'context' and 'supporting_facts' must be HotpotQA's"),
    ({**BRIDGE, "_id": ["own", 1]}, "field 'id' must be text or an integer, got ['own', 1]"),
    ({**MUSIQUE, "paragraphs": [{"idx": 0}]}, "'paragraphs' needs 'idx', 'title' and 'paragraph_text'"),
    ({**MUSIQUE, "question_decomposition": [{"answer": "x", "paragraph_support_idx": 0}]},
     "question_decomposition[0]): field 'question' is missing"),
    ({**MUSIQUE, "question_decomposition": ["Who?"]}, "question_decomposition[0]): a step must be an object"),
    ({**MUSIQUE, "question_decomposition": []}, "'question_decomposition' must be a non-empty list"),
    ({**MUSIQUE, "answer": None}, "field 'answer' must be non-empty text, got None"),
    ({**BRIDGE, "answer": ""}, "field 'answer' must be non-empty text, got ''"),
    ({**MUSIQUE, "answer_aliases": "viola"}, "field 'answer_aliases' must be a list of texts"),
])
def test_bad_rows_name_the_file_the_line_and_the_field(tmp_path, row, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(BRIDGE) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(TrainingError) as err:
        question_file(path)
    assert str(path) in str(err.value) and "line 2" in str(err.value) and message in str(err.value)


def test_rows_without_an_id_are_named_by_their_line_or_index_as_eval_qa_names_them(tmp_path):
    """docs/training.md lists question, answer, supporting_facts and context: a row of your own without an id is
    trained on, named as `eval qa --dataset FILE` names it (its line, or its index in a JSON array), so the ids
    of its trajectories and of its eval rows agree; the shipped samples must still carry theirs."""
    from routeweave.evals.qa.datasets import load_dataset
    from routeweave.training.sources import hotpotqa_row

    lines = tmp_path / "noids.jsonl"
    rows = [{k: v for k, v in BRIDGE.items() if k != "_id"}, COMPARISON, {**BRIDGE, "_id": None, "question": "Where is Brannoch?"}]
    lines.write_text(json.dumps(rows[0]) + "\n\n" + "\n".join(map(json.dumps, rows[1:])) + "\n")  # line 2 blank
    assert [e.id for e in question_file(lines)] == ["1", "own-2", "4"]
    assert [e.id for e in question_file(lines)] == [e.id for e in load_dataset(lines).examples]
    array = tmp_path / "hops.json"
    array.write_text(json.dumps([{k: v for k, v in MUSIQUE.items() if k != "id"}, {**MUSIQUE, "id": 7}]))
    assert [(e.id, e.kind) for e in question_file(array)] == [("0", ""), ("7", "")]
    assert [e.id for e in question_file(array)] == [e.id for e in load_dataset(array).examples]
    with pytest.raises(TrainingError, match=r"x.jsonl \(line 9\): field 'id' \(or '_id'\) is missing"):
        hotpotqa_row({k: v for k, v in BRIDGE.items() if k != "_id"}, tmp_path / "x.jsonl", "line 9")


def test_null_answer_aliases_mean_none(tmp_path):
    path = tmp_path / "hops.json"
    path.write_text(json.dumps([{**MUSIQUE, "answer_aliases": None}, {**MUSIQUE, "id": "2hop__own_4", "answer_aliases": ["the viola"]}]))
    assert [e.answers for e in question_file(path)] == [["viola"], ["viola", "the viola"]]


def test_heldout_questions_are_refused(tmp_path):
    require_shared()
    lines = (SHARED / "hotpotqa" / "dev_distractor_sample500_with_context.jsonl").read_text().splitlines()
    path = tmp_path / "copied.jsonl"
    path.write_text(lines[0] + "\n" + lines[400] + "\n")  # a training line and a held-out one
    with pytest.raises(TrainingError, match=r"1 row\(s\) are held-out HotpotQA test questions"):
        teacher_set(SHARED, tmp_path / "work", DataSettings(questions=[str(path)], llm_share=0))
    assert not (tmp_path / "work" / "corpus-train.jsonl.gz").exists()
    renamed = json.loads(lines[400])
    renamed["id"], renamed["question"] = "my-own-7", renamed["question"].upper() + " "  # another id, same question
    path.write_text(lines[0] + "\n" + json.dumps(renamed) + "\n")
    with pytest.raises(TrainingError, match=r"1 row\(s\) are held-out HotpotQA test questions"):
        teacher_set(SHARED, tmp_path / "work", DataSettings(questions=[str(path)], llm_share=0))


@pytest.mark.parametrize("args, message", [
    (["--questions", "{tmp}/missing.jsonl"], "--questions {tmp}/missing.jsonl: file not found"),
    (["--pool", "{tmp}/nopool.toml"], "nopool.toml"),
    (["--questions-only"], "nothing to train on"),
])
def test_cli_refuses_bad_own_data_before_writing(routeweave_cmd, tmp_path, args, message):
    require_shared()
    args = [a.format(tmp=tmp_path) for a in args]
    out = subprocess.run([*routeweave_cmd, "train", "data", "--work", str(tmp_path / "w"), "--llm-share", "0", *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert message.format(tmp=tmp_path) in out.stderr
    assert not (tmp_path / "w" / "trajectories.jsonl").exists()


def test_train_data_records_the_pool_and_stages_write_it_with_the_adapter(routeweave_cmd, tmp_path):
    """`train data --pool` is recorded in WORK/data.json; the pool file a stage writes beside its adapter is
    that pool (its experts, its corpus) with the router on the adapter, not the embedded pool."""
    require_shared()
    from routeweave.agents.pool import load_pool
    from routeweave.training.export import served_pool, write_pool_for, write_stage_pool

    mine, _, pool = _own_files(tmp_path)
    work = tmp_path / "w"
    out = subprocess.run([*routeweave_cmd, "train", "data", "--work", str(work), "--questions", str(mine), "--questions-only",
                          "--pool", str(pool), "--llm-share", "0", "--variants", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total"] == 2 and served_pool(work) == str(pool.resolve())
    adapter = work / "sft" / "router-lora.gguf"
    adapter.parent.mkdir()
    adapter.write_bytes(b"GGUF")  # the pool file names the adapter; it is checked when a server loads it
    written = load_pool(write_pool_for(adapter, served_pool(work)))
    assert [e.name for e in written.enabled] == ["Handbook", "SmolLM2"]
    assert written.enabled[0].corpus == str(tmp_path / "handbook.jsonl")
    assert written.router.adapter == "router" and written.servers["local"].adapters == {"router": str(adapter.resolve())}
    assert load_pool(write_pool_for(adapter, None)).enabled[0].name == "Wiki"  # no --pool: the embedded pool
    # what the stages write (write_stage_pool): P, its retriever on the corpus the teacher searched for the questions
    staged = load_pool(write_stage_pool(adapter, work))
    assert staged.expert("Handbook").corpus == str((work / "corpus-train.jsonl.gz").resolve())


def test_the_stage_pool_searches_the_paragraphs_of_your_questions(routeweave_cmd, tmp_path):
    """docs/training.md's "Your own pool and data" without --pool: the pool file a stage writes (what the user
    evaluates with) searches the corpus the teacher searched for the --questions, which holds their paragraphs;
    the embedded pool's builtin corpus holds none of them (EM 0 and 'answer seen 0.000' in the user's eval). Its
    header says what it is (the embedded pool on the trained adapter), not the prompted pool's comment. Without
    --questions (the shipped recipe) the pool keeps the builtin corpus."""
    require_shared()
    from routeweave.agents.bm25 import open_retriever
    from routeweave.agents.pool import load_pool
    from routeweave.training.build_data import write_train_corpus
    from routeweave.training.export import save_json_atomic

    mine, _, _ = _own_files(tmp_path)
    work = tmp_path / "w"
    out = subprocess.run([*routeweave_cmd, "train", "data", "--work", str(work), "--questions", str(mine), "--questions-only",
                          "--llm-share", "0", "--variants", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for name in ("trajectories.jsonl", "data.json", "corpus-train.jsonl.gz"):  # readable as files open() makes
        assert (work / name).stat().st_mode & 0o777 == 0o644, name  # (mkstemp alone leaves 0600)
    adapter = work / "sft" / "router-lora.gguf"
    adapter.parent.mkdir()
    adapter.write_bytes(b"GGUF")
    path = write_stage_pool(adapter, work)
    written, text = load_pool(path), path.read_text()
    corpus = written.expert("Wiki").corpus
    assert corpus == str((work / "corpus-train.jsonl.gz").resolve())
    found = open_retriever(corpus, tmp_path / "cache").search("Brannoch", 2)
    assert any(p.title == "Brannoch" and "Tessaly River" in p.text for p in found), found  # the question's own paragraph
    assert not open_retriever("builtin:hotpotqa", tmp_path / "cache").search("Brannoch Tessaly", 1)
    assert text.startswith(f"# the embedded pool with its router on the trained adapter {adapter.resolve()}\n")
    assert "PROMPTED" not in text and "no trained adapter" not in text and "corpus-train.jsonl.gz" in text.split("\n\n")[0]
    assert written.router.adapter == "router" and [e.name for e in written.enabled] == ["Wiki", "SmolLM2"]
    (work / "corpus-train.jsonl.gz").unlink()  # the record names questions whose corpus is gone: say what to run
    with pytest.raises(TrainingError, match=f"corpus-train.jsonl.gz, the corpus holding their paragraphs, is missing: "
                                            f"run `routeweave train data --work {work}`"):
        write_stage_pool(adapter, work)
    shipped = tmp_path / "shipped"  # the shipped recipe's record (no --questions): the builtin corpus, as before
    write_train_corpus(shipped / "corpus-train.jsonl.gz", [("Extra", "A MuSiQue-like paragraph.")])
    save_json_atomic(shipped / "data.json", {"total": 752, "settings": DataSettings().model_dump()})
    (shipped / "sft").mkdir()
    (shipped / "sft" / "router-lora.gguf").write_bytes(b"GGUF")
    assert load_pool(write_stage_pool(shipped / "sft" / "router-lora.gguf", shipped)).expert("Wiki").corpus == "builtin:hotpotqa"


def test_a_pool_whose_router_cannot_apply_a_gguf_adapter_gets_the_embedded_pool_said_so(tmp_path, capsys):
    from routeweave.agents.pool import load_pool
    from routeweave.training.export import write_pool_for

    adapter = tmp_path / "router-lora.gguf"
    adapter.write_bytes(b"GGUF")
    written = write_pool_for(adapter, "remote")
    assert "cannot apply this GGUF adapter" in capsys.readouterr().err
    assert "# note:" in written.read_text() and load_pool(written).router.adapter == "router"


def test_llm_share_with_a_pool_without_an_llm_expert_says_what_to_do(tmp_path):
    require_shared()
    mine, _, pool = _own_files(tmp_path)
    text = pool.read_text()
    (tmp_path / "retriever-only.toml").write_text(text[: text.index("[[experts]]", text.index("[[experts]]") + 1)])
    settings = DataSettings(questions=[str(mine)], questions_only=True, pool=str(tmp_path / "retriever-only.toml"), llm_share=0.5)
    with pytest.raises(TrainingError, match="no LLM expert for the --llm-share sessions to ask.*--llm-share 0"):
        teacher_set(SHARED, tmp_path / "work", settings)
    rows, _ = teacher_set(SHARED, tmp_path / "work", settings.model_copy(update={"llm_share": 0.0, "default_share": 1.0}))
    assert rows and all(t.experts == ["Handbook"] for t in rows)


def test_a_questions_file_is_read_as_eval_qa_reads_datasets(tmp_path):
    """JSON Lines or a JSON array, told apart by the content (not the extension); a broken line is named."""
    as_array = tmp_path / "array.jsonl"
    as_array.write_text(json.dumps([BRIDGE, COMPARISON]))
    assert [e.id for e in question_file(as_array)] == ["own-1", "own-2"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(BRIDGE) + '\n{"question": "q"\n')
    with pytest.raises(TrainingError, match=r"broken.jsonl \(line 2\): invalid JSON"):
        question_file(broken)
