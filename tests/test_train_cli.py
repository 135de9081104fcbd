"""`routeweave train` on bad input: a clear error naming the file and the field, exit code 2, no
traceback, and nothing written."""

from __future__ import annotations

import json
import subprocess

import pytest


from support.train import SHARED, require_shared


def train(routeweave_cmd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*routeweave_cmd, "train", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_sft_without_trajectories_names_the_file(routeweave_cmd, tmp_path):
    out = train(routeweave_cmd, "sft", "--work", tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"trajectory file {tmp_path / 'trajectories.jsonl'} does not exist" in out.stderr
    assert f"routeweave train data --work {tmp_path}" in out.stderr  # what to run first


def test_sft_refuses_trajectories_of_another_prompt_version(routeweave_cmd, tmp_path):
    row = {"id": "x:1", "source": "t", "question": "Q?", "answers": ["a"], "experts": ["Wiki"], "prompt_version": "000000000000",
           "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Question: Q?"},
                        {"role": "assistant", "content": "<think>t</think>\n<answer>a</answer>"}]}
    (tmp_path / "trajectories.jsonl").write_text(json.dumps(row) + "\n")
    out = train(routeweave_cmd, "sft", "--work", tmp_path)
    assert out.returncode == 2 and "field 'prompt_version' is ['000000000000']" in out.stderr
    assert not (tmp_path / "sft").exists()



def test_sft_from_an_adapter_that_does_not_fit_names_it(routeweave_cmd, tmp_path):
    pytest.importorskip("gguf")
    import numpy as np

    from routeweave.training._graph import prompt_version
    from routeweave.training.export import write_gguf_adapter

    row = {"id": "x:1", "source": "t", "question": "Q?", "answers": ["a"], "experts": ["Wiki"], "prompt_version": prompt_version(),
           "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Question: Q?"},
                        {"role": "assistant", "content": "<think>t</think>\n<answer>a</answer>"}]}
    (tmp_path / "trajectories.jsonl").write_text(json.dumps(row) + "\n")
    out = train(routeweave_cmd, "sft", "--work", tmp_path, "--from-adapter", tmp_path / "nowhere.gguf")
    assert out.returncode == 2 and "nowhere.gguf: no such file or folder" in out.stderr and "Traceback" not in out.stderr
    old = write_gguf_adapter(tmp_path / "old.gguf", {"blk.0.attn_v.weight.lora_a": np.zeros((4, 576), np.float16),
                                                     "blk.0.attn_v.weight.lora_b": np.zeros((192, 4), np.float16)},
                             alpha=8.0, metadata={"prompt_version": "0123456789ab"})
    out = train(routeweave_cmd, "sft", "--work", tmp_path, "--from-adapter", old)
    assert out.returncode == 2 and "old.gguf" in out.stderr and "'routeweave.prompt_version'" in out.stderr
    assert not (tmp_path / "sft").exists()

def test_ship_without_a_finished_stage(routeweave_cmd, tmp_path):
    out = train(routeweave_cmd, "ship", "--work", tmp_path, "--to", tmp_path / "x.gguf")
    assert out.returncode == 2 and "stage 'sft' has no finished adapter" in out.stderr
    assert f"routeweave train sft --work {tmp_path}" in out.stderr  # what to run first
    assert not (tmp_path / "x.gguf").exists()


def test_ship_copies_the_stage_adapter_and_says_what_uses_it(routeweave_cmd, tmp_path):
    stage = tmp_path / "polish" / "sft"
    (stage / "adapter").mkdir(parents=True)
    (stage / "adapter" / "adapter_config.json").write_text("{}")
    (stage / "router-lora.gguf").write_bytes(b"GGUF adapter bytes")
    dest = tmp_path / "pkg" / "router.gguf"
    out = train(routeweave_cmd, "ship", "--work", tmp_path, "--stage", "polish/sft", "--to", dest)
    assert out.returncode == 0, out.stderr
    assert dest.read_bytes() == b"GGUF adapter bytes" and not list(dest.parent.glob(".*.tmp"))
    assert str(dest) in out.stdout and str(stage / "router-lora.toml") in out.stdout


def test_rejection_sampling_needs_a_session_above_the_threshold(routeweave_cmd, tmp_path):
    require_shared()
    from routeweave.evals.qa.store import ResultStore

    db = tmp_path / "evals.db"
    with ResultStore(db) as store:
        from routeweave.evals.qa.datasets import load_dataset

        held = load_dataset("hotpotqa-heldout", data_dir=SHARED, limit=1).examples[0].question
        from routeweave.graphs.router_r1.prompt import prompt_version

        store.open_run("weak", {"graph": "router-r1", "graph_version": prompt_version()}, 3)
        # a held-out row by name, one by its question alone (the full dev file numbers rows by position), a weak one
        for i, (dataset, f1, question) in enumerate([("hotpotqa-heldout", 1.0, "Q?"), ("hotpot_dev_v1_simplified", 1.0, held),
                                                     ("hotpotqa", 0.1, "Q?")]):
            store.write({"run": "weak", "dataset": dataset, "example_id": f"q{i}", "question": question, "answers": ["a"],
                         "prediction": "a", "em": f1, "f1": f1, "cost_usd": 0.0, "cost_units": 0.0, "prompt_tokens": 0,
                         "completion_tokens": 0, "rounds": 1, "expert_calls": 1, "latency_s": 0.1, "wall_s": 0.1,
                         "stop_reason": "answered", "session_id": f"s{i}", "trace_db": None, "error": None,
                         "finished": 0.0})
    out = train(routeweave_cmd, "data", "--work", tmp_path / "w", "--data-dir", SHARED, "--from-run", "weak",
                "--results-db", db, "--min-f1", 0.5)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "run 'weak' has no answered session with F1 >= 0.5" in out.stderr and "'heldout_dropped': 2" in out.stderr
    missing = train(routeweave_cmd, "data", "--work", tmp_path / "w", "--from-run", "nope", "--results-db", db)
    assert missing.returncode == 2 and "no run named 'nope'" in missing.stderr
    assert not (tmp_path / "w" / "trajectories.jsonl").exists()


def test_train_all_refuses_a_missing_extra_before_building_anything(tmp_path, monkeypatch, capsys):
    """`train all` without the 'train' extra stops at once (simulated: a module made unfindable), not after the
    trajectories are built, and writes nothing."""
    from routeweave.training import recipe
    from routeweave.ui.cli import main

    monkeypatch.setattr(recipe, "TRAIN_MODULES", (*recipe.TRAIN_MODULES, "no_such_module_x", "nor_this"))
    assert main(["train", "all", "--work", str(tmp_path / "w")]) == 2
    assert "no_such_module_x, nor_this are missing: install the 'train' extra" in capsys.readouterr().err
    assert not (tmp_path / "w" / "trajectories.jsonl").exists()


def test_a_missing_extra_is_named_but_a_broken_import_of_ours_is_not_hidden(capsys):
    """The stage guard turns a missing third-party module into 'install the train extra' (exit 2), and
    lets an ImportError inside routeweave through: it is a bug, and calling it a missing extra hid one."""
    import pytest

    from routeweave.training.cli import _guard

    def missing_peft(args):
        raise ModuleNotFoundError("No module named 'peft'", name="peft")

    def broken_ours(args):
        raise ImportError("cannot import name 'x' from 'routeweave.agents.pool'", name="routeweave.agents.pool")

    assert _guard(missing_peft)(None) == 2
    assert "peft is missing: install the 'train' extra" in capsys.readouterr().err
    with pytest.raises(ImportError, match="routeweave.agents.pool"):
        _guard(broken_ours)(None)


def test_answer_think_choices_are_the_teachers():
    """The CLI must not import the teacher (and with it LangGraph) to print --help: its choices and default
    must still be the ones the teacher accepts."""
    import argparse

    from routeweave.training import cli, teacher

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["train", "data"])
    train = parser._subparsers._group_actions[0].choices["train"]
    data = train._subparsers._group_actions[0].choices["data"]
    action = next(a for a in data._actions if a.dest == "answer_think")
    assert tuple(action.choices) == teacher.ANSWER_THINKS
    assert args.answer_think == teacher.DEFAULT_ANSWER_THINK


def test_train_data_defaults_are_the_shipped_recipe():
    """`train data` with no options, and `train all`, build the shipped adapter's recipe (DataSettings' defaults,
    docs/training.md): made-up names on half the varied lists, brief answer thinks, two variants."""
    import argparse

    from routeweave.training import cli
    from routeweave.training.data_settings import DataSettings

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["train", "data"])
    assert {k: getattr(args, k) for k in DataSettings.model_fields if hasattr(args, k)} == DataSettings().model_dump()
    assert (DataSettings().made_up_names, DataSettings().answer_think, DataSettings().variants) == (0.5, "brief", 2)


def test_train_data_settings_refuse_unknown_keys_and_bad_values():
    from pydantic import ValidationError

    from routeweave.training.data_settings import DataSettings

    with pytest.raises(ValidationError, match="made_up_nmes"):
        DataSettings(made_up_nmes=0.5)
    with pytest.raises(ValidationError, match="variants"):
        DataSettings(variants=0)


def test_train_data_names_the_option_it_refuses(routeweave_cmd, tmp_path):
    out = train(routeweave_cmd, "data", "--work", tmp_path, "--variants", "0")
    assert out.returncode == 2 and "error: --variants: Input should be greater than or equal to 1" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "trajectories.jsonl").exists()


@pytest.mark.parametrize("option", ["--made-up-names", "--llm-share", "--min-f1", "--counterfactual", "--default-share"])
def test_a_share_out_of_range_is_refused(routeweave_cmd, tmp_path, option):
    out = train(routeweave_cmd, "data", "--work", tmp_path, option, "1.5")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"argument {option}: '1.5' is not a number from 0 to 1" in out.stderr
    assert not (tmp_path / "trajectories.jsonl").exists()


def test_train_all_runs_the_shipped_sft_recipe_epoch_by_epoch(tmp_path, monkeypatch):
    """`train all`: one SFT epoch, then a second resumed from it, then the polish epoch in WORK/polish (its own
    question-ranked data with varied expert lists only, SFT from the two-epoch adapter at a quarter of the learning
    rate), and the check and the ship take the polished adapter; a killed epoch resumes, and a work folder whose
    stages are done is not trained again. run_data / run_sft are recorders here; the SFT itself is tested in
    test_train_loop, the data in test_train_data."""
    import argparse
    import json

    from routeweave.training import cli, recipe

    calls, built, shipped = [], [], []
    monkeypatch.setattr(recipe, "TRAIN_MODULES", ())  # the stages are recorders: no extra needed to run them

    def fake_sft(args):
        calls.append((args.work.name, args.epochs, getattr(args, "from_adapter", None), getattr(args, "learning_rate", None)))
        meta = args.work / "sft" / "adapter" / "routeweave.json"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"epochs": str(args.epochs)}))
        return 0

    def fake_data(args):
        built.append((args.work, args.rank_by_question, args.default_share, args.made_up_names))
        args.work.mkdir(parents=True, exist_ok=True)
        (args.work / "trajectories.jsonl").write_text("")
        return 0

    monkeypatch.setattr(cli, "run_sft", fake_sft)
    monkeypatch.setattr(cli, "run_data", fake_data)
    monkeypatch.setattr(cli, "run_check", lambda args: 0)
    monkeypatch.setattr(cli, "run_ship", lambda args: shipped.append(cli._work(args) / args.stage) or 0)
    (tmp_path / "trajectories.jsonl").write_text("")
    new_args = lambda: argparse.Namespace(work=tmp_path, data_dir=None, no_grpo=True, base=None, alpha=0.2, steps=None,  # noqa: E731
                                          stop_after=None, pool=None, questions=[], questions_only=False, precision="auto",
                                          no_polish=False)
    polish = (tmp_path.name, 1.0, None, None), (tmp_path.name, 2.0, None, None), \
        ("polish", 1.0, str(tmp_path / "sft" / "adapter"), 1e-4)
    assert cli.run_all(new_args()) == 0 and calls == list(polish)
    assert built == [(tmp_path / "polish", True, 0.0, 0.5)] and shipped == [tmp_path / "polish" / "sft"]
    assert cli.run_all(new_args()) == 0 and calls == list(polish) and len(built) == 1  # done: nothing rebuilt or retrained
    (tmp_path / "sft" / "adapter" / "routeweave.json").write_text(json.dumps({"epochs": "1.0"}))  # killed in epoch 2
    assert cli.run_all(new_args()) == 0 and calls[len(polish):] == [(tmp_path.name, 2.0, None, None)]
    (tmp_path / "polish" / "sft" / "adapter" / "routeweave.json").unlink()  # killed in the polish epoch
    assert cli.run_all(new_args()) == 0 and calls[-1] == polish[-1] and len(built) == 1
    args = new_args()
    args.no_polish = True
    assert cli.run_all(args) == 0 and shipped[-1] == tmp_path / "sft"
    args = new_args()
    args.work = fresh = tmp_path / "fresh"  # no trajectories yet: the recipe's data first, then the polish's
    assert cli.run_all(args) == 0 and built[1:] == [(fresh, False, 0.4, 0.5), (fresh / "polish", True, 0.0, 0.5)]
    again = recipe.Polish("again", {"made_up_names": 0.25}, {"learning_rate": 5e-5})  # a recipe with two polishes chains them
    monkeypatch.setattr(recipe, "POLISHES", (*recipe.POLISHES, again))
    assert cli.run_all(new_args()) == 0 and built[-1] == (tmp_path / "again", False, 0.4, 0.25)
    assert calls[-1] == ("again", 1.0, str(tmp_path / "polish" / "sft" / "adapter"), 5e-5)
    assert shipped[-1] == tmp_path / "again" / "sft"


def test_sft_precision_resolves_per_cpu_and_refuses_emulated_bf16(monkeypatch):
    """--precision: fp32 stays fp32; auto takes bf16 only where the CPU multiplies it natively; an explicit bf16 on
    a CPU without AVX512-BF16/AMX is refused with the fix named (emulated bf16 is slower than fp32). The CPU
    probes are replaced here; the bf16 SFT itself runs in test_train_loop."""
    from routeweave.training import sft
    from routeweave.training.base import TrainingError

    monkeypatch.setattr(sft, "_gpu", lambda: False)
    for native in (True, False):
        monkeypatch.setattr(sft, "native_cpu_bf16", lambda native=native: native)
        assert sft.cpu_bf16(sft.SFTSettings(precision="fp32")) is False
        assert sft.cpu_bf16(sft.SFTSettings(precision="auto")) is native
    assert sft.SFTSettings().precision == "auto"  # bf16 where the CPU has it: validated against fp32 (results)
    with pytest.raises(TrainingError, match="--precision fp32"):
        sft.cpu_bf16(sft.SFTSettings(precision="bf16"))
    monkeypatch.setattr(sft, "native_cpu_bf16", lambda: True)
    assert sft.cpu_bf16(sft.SFTSettings(precision="bf16")) is True
    monkeypatch.setattr(sft, "_gpu", lambda: True)  # a GPU base is bfloat16 already: no CPU autocast
    assert sft.cpu_bf16(sft.SFTSettings(precision="bf16")) is False


def test_rejection_sampling_keeps_a_recorded_run_under_its_own_prompt_only(routeweave_cmd, tmp_path):
    """A real `eval qa` run of the router-r1 graph (LiteLLM mock replies, a free python tool among the experts)
    becomes trajectories: the router's recorded conversation closed by its answer turn. A run recorded under
    another router prompt, or without one on record, is refused instead of stamped with today's version."""
    require_shared()
    import os
    import sqlite3
    from pathlib import Path

    from test_qa_run import MOCK_POOL

    from routeweave.graphs.router_r1.prompt import prompt_version
    from routeweave.training.base import TrainingError
    from routeweave.training.rejection import from_run

    pool = tmp_path / "p.toml"
    pool.write_text(MOCK_POOL + '\n[[experts]]\nname = "Echo"\nkind = "python"\nfunction = "support.tools:shout"\n'
                    'description = "shouts"\n')
    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "question": f"When was tower {i} built?",
                                        "golden_answers": ["1889"]}) + "\n" for i in range(2)))
    db = tmp_path / "evals.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    ran = subprocess.run([*routeweave_cmd, "eval", "qa", "--dataset", data, "--pool", pool, "--run", "good", "--results-db",
                          db, "--trace-db", tmp_path / "traces.db", "--no-progress", "--seed", "-1"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert ran.returncode == 0, ran.stderr
    rows, stats = from_run(db, "good", data_dir=SHARED, min_f1=0.5)
    assert stats["kept"] == 2 and len(rows) == 2
    t = rows[0]
    assert t.prompt_version == prompt_version() and t.experts == ["Mock", "Big", "Echo"]  # the free tool listed too
    assert [m.role for m in t.messages] == ["system", "user", "assistant"]
    assert t.messages[1].content.startswith("Question: When was tower") and "<answer>1889</answer>" in t.messages[-1].content
    # the run as if recorded under another prompt, then as if recorded before the version was kept: refused
    conn = sqlite3.connect(db)
    config = json.loads(conn.execute("select config from qa_runs where run = 'good'").fetchone()[0])
    for version, message in [("0123456789ab", "field 'graph_version' is 0123456789ab"), (None, "records no router prompt version")]:
        with conn:
            conn.execute("update qa_runs set config = ? where run = 'good'", [json.dumps({**config, "graph_version": version})])
        with pytest.raises(TrainingError, match=message):
            from_run(db, "good", data_dir=SHARED, min_f1=0.5)
    conn.close()


def test_heldout_ids_read_either_id_field_and_name_a_row_without_one(tmp_path):
    from routeweave.training.base import TrainingError
    from routeweave.training.rejection import heldout_ids
    from routeweave.training.sources import HOTPOT_FILE, HOTPOT_TRAIN_LINES

    path = tmp_path / HOTPOT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    train_rows = [json.dumps({"id": f"t{i}", "question": "Q?"}) for i in range(HOTPOT_TRAIN_LINES[1])]
    path.write_text("\n".join(train_rows + [json.dumps({"_id": "h1", "question": "Where?"})]) + "\n")
    held = heldout_ids(tmp_path)
    assert "h1" in held and "t0" not in held
    path.write_text("\n".join(train_rows + [json.dumps({"question": "Where?"})]) + "\n")
    with pytest.raises(TrainingError, match=rf"line {HOTPOT_TRAIN_LINES[1] + 1}\): no field 'id'"):
        heldout_ids(tmp_path)


@pytest.mark.parametrize("meta, message", [
    (None, "no routeweave.json recording the base model and router prompt"),
    ({"prompt_version": "000000000000"}, "field 'prompt_version' is 000000000000, but the router prompt is now"),
    ({"base_sha256": "ab"}, "field 'base_sha256' is 'ab'"),
])
def test_export_and_warm_start_refuse_a_folder_that_does_not_say_what_it_was_trained_for(routeweave_cmd, tmp_path, meta, message):
    """`train export` and `train sft --from-adapter` take a PEFT folder's base and prompt version from its routeweave.json
    (written with every adapter and checkpoint): a folder without one, or trained for another prompt or base, is
    refused before anything loads, never stamped with today's version."""
    pytest.importorskip("peft")
    from routeweave.training._graph import prompt_version
    from routeweave.training.base import DEFAULT_GGUF
    from routeweave.training.sft import adapter_metadata

    folder = tmp_path / "checkpoint-7"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    if meta is not None:
        (folder / "routeweave.json").write_text(json.dumps({**adapter_metadata(DEFAULT_GGUF, prompt_version(), "sft"), **meta}))
    for args in (["export", folder, "--work", tmp_path, "--out", tmp_path / "out.gguf"],
                 ["sft", "--work", tmp_path, "--from-adapter", folder]):
        if args[0] == "sft":
            row = {"id": "x:1", "source": "t", "question": "Q?", "answers": ["a"], "experts": ["Wiki"], "prompt_version": prompt_version(),
                   "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Question: Q?"},
                                {"role": "assistant", "content": "<think>t</think>\n<answer>a</answer>"}]}
            (tmp_path / "trajectories.jsonl").write_text(json.dumps(row) + "\n")
        out = train(routeweave_cmd, *args)
        assert out.returncode == 2 and "Traceback" not in out.stderr and message in out.stderr, out.stderr
    assert not (tmp_path / "out.gguf").exists() and not (tmp_path / "sft").exists()
