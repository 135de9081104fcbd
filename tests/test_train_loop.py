"""Tiny real training runs (the 'train' extra): SFT on a few teacher trajectories lowers the loss on the
router's tokens, the exported GGUF adapter computes what PEFT computes (llama.cpp Q4_1 + adapter vs
transformers + PEFT on the dequantised base), and one GRPO step runs the real graph as its rollout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.train import SHARED, require_shared, require_train_extra

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    require_train_extra()
    require_shared()
    from routeweave.agents.bm25 import open_retriever
    from routeweave.training import teacher
    from routeweave.training._graph import prompt_version
    from routeweave.training.expert_lists import embedded_default
    from routeweave.training.records import write_jsonl
    from routeweave.training.sources import hotpotqa_train

    work = tmp_path_factory.mktemp("train")
    search = teacher.retrieval_search(open_retriever("builtin:hotpotqa", work / "cache"), 2)
    rows = [t for ex in hotpotqa_train(SHARED, lines=(1, 12))
            if (t := teacher.build(ex, embedded_default(2), search, prompt_version=prompt_version()))]
    write_jsonl(work / "trajectories.jsonl", rows[:4])
    # as `train data --pool P` records it: the stages then write P (here the embedded pool, its retriever
    # renamed) with the router on their adapter
    from routeweave.agents.pool import pool_path

    (work / "mine.toml").write_text(pool_path("embedded").read_text().replace('name = "Wiki"', 'name = "Archive"'))
    (work / "data.json").write_text(json.dumps({"settings": {"pool": str(work / "mine.toml")}}))
    return work


def _router_loss(model, tok, trajectories) -> float:
    import torch

    from routeweave.training.masking import encode
    from routeweave.training.sft import router_token_loss

    losses = []
    with torch.no_grad():
        for t in trajectories:
            enc = encode(tok, t)
            batch = {"input_ids": torch.tensor([enc["input_ids"]]), "labels": torch.tensor([enc["labels"]])}
            losses.append(float(router_token_loss(model, batch)))
    return sum(losses) / len(losses)


@pytest.mark.server
def test_sft_lowers_the_router_loss_and_exports_an_agreeing_adapter(work):
    from peft import PeftModel

    from routeweave.training.agreement import measure, positions
    from routeweave.training.base import DEFAULT_GGUF, load_base
    from routeweave.training.export import read_metadata
    from routeweave.training.records import read_trajectories
    from routeweave.training.sft import SFTSettings, train_sft

    rows = read_trajectories(work / "trajectories.jsonl")
    stats = train_sft(work / "trajectories.jsonl", work, SFTSettings(max_steps=8, grad_accum=1, learning_rate=1e-3, save_steps=4))
    assert stats["complete"] and Path(stats["gguf_adapter"]).is_file()
    assert read_metadata(Path(stats["gguf_adapter"]))["stage"] == "sft"
    # each checkpoint records what it was trained for, as the finished adapter does (export and --from-adapter read it)
    from routeweave.training._graph import prompt_version

    stamp = json.loads((work / "sft" / "checkpoint-4" / "routeweave.json").read_text())
    assert (stamp["prompt_version"], stamp["stage"], stamp["checkpoint_step"]) == (prompt_version(), "sft", "4")
    # beside it, the pool file a user evaluates the stage with (`eval qa --pool WORK/sft/router-lora.toml`)
    from routeweave.agents.pool import load_pool

    written = load_pool(Path(stats["gguf_adapter"]).with_suffix(".toml"))
    (server,) = written.servers.values()
    assert list(server.adapters.values()) == [str(Path(stats["gguf_adapter"]).resolve())]
    assert [e.name for e in written.enabled] == ["Archive", "SmolLM2"]  # the pool `train data` recorded
    base, tok = load_base()
    before = _router_loss(base, tok, rows)
    model = PeftModel.from_pretrained(base, stats["peft_adapter"]).eval()
    after = _router_loss(model, tok, rows)
    assert after < 0.8 * before, (before, after)

    texts = [tok.apply_chat_template([m.model_dump() for m in t.messages], tokenize=False) for t in rows[:2]]
    prefixes = positions([tok(x, add_special_tokens=False)["input_ids"] for x in texts], 60)
    agreement = measure(model, prefixes, DEFAULT_GGUF, Path(stats["gguf_adapter"]))
    # The shipped adapter is held to >= 95% on 200 positions (`routeweave train check`). This 8-step adapter
    # is held to what llama.cpp's Q4_1 base itself agrees on at the same positions, less 3 of 60: on the
    # ninth session's CPU the base alone agreed on 96.7% and this adapter on 91.7% (95.5% for the trained one).
    assert agreement.top1_agreement >= agreement.base_agreement - 0.05, agreement
    # the adapter really changes the model, and llama.cpp applies it per request (scale 0 = the base)
    assert agreement.changed_by_adapter > 0.05, agreement
    assert agreement.top1_agreement_adapter_off < agreement.top1_agreement, agreement



@pytest.mark.server
def test_sft_can_start_from_the_shipped_router(work, tmp_path):
    """`train sft --from-adapter shipped`: the shipped GGUF adapter read back into PEFT form computes what
    llama.cpp computes with it (so the q/k rows are back in transformers' order), already knows the protocol
    (a far lower router loss than the base), and training continues from it."""
    import shutil

    from routeweave.training import warm_start
    from routeweave.training.agreement import measure, positions
    from routeweave.training.base import DEFAULT_GGUF, gguf_file, load_base
    from routeweave.training.export import read_metadata
    from routeweave.training.records import read_trajectories
    from routeweave.training.sft import SFTSettings, train_sft

    rows = read_trajectories(work / "trajectories.jsonl")
    base, tok = load_base()
    before = _router_loss(base, tok, rows)
    model = warm_start.trainable_model(base, warm_start.resolve("shipped")).eval()
    import gguf
    import numpy as np
    from peft import get_peft_model_state_dict

    from routeweave.training.export import gguf_tensors

    again = gguf_tensors(get_peft_model_state_dict(model), n_head=base.config.num_attention_heads,
                         n_head_kv=base.config.num_key_value_heads)
    original = {t.name: np.asarray(t.data) for t in gguf.GGUFReader(str(gguf_file(warm_start.SHIPPED))).tensors}
    assert set(again) == set(original) and all(np.array_equal(again[k], original[k]) for k in original)  # bit for bit
    shipped = _router_loss(model, tok, rows)
    assert shipped < 0.5 * before, (before, shipped)
    texts = [tok.apply_chat_template([m.model_dump() for m in t.messages], tokenize=False) for t in rows[:2]]
    prefixes = positions([tok(x, add_special_tokens=False)["input_ids"] for x in texts], 60)
    agreement = measure(model, prefixes, DEFAULT_GGUF, gguf_file(warm_start.SHIPPED))
    assert agreement.top1_agreement >= agreement.base_agreement - 0.05, agreement
    assert agreement.changed_by_adapter > 0.05, agreement

    shutil.copy(work / "trajectories.jsonl", tmp_path / "trajectories.jsonl")
    stats = train_sft(tmp_path / "trajectories.jsonl", tmp_path,
                      SFTSettings(max_steps=2, grad_accum=1, learning_rate=1e-4, from_adapter="shipped"))
    assert stats["complete"] and read_metadata(Path(stats["gguf_adapter"]))["from_adapter"] == "shipped"
    from peft import PeftModel

    base, tok = load_base()
    trained = _router_loss(PeftModel.from_pretrained(base, stats["peft_adapter"]).eval(), tok, rows)
    assert trained < 0.5 * before, (before, shipped, trained)  # it went on from the shipped weights

def test_sft_continues_from_a_stage_peft_folder(work, tmp_path):
    """`train all`'s polish epoch starts from WORK/sft/adapter (a PEFT folder): the continued run begins at that
    adapter's weights (a fresh LoRA's B matrices are zero), and records where it started."""
    import shutil

    from safetensors.numpy import load_file

    from routeweave.training.export import read_metadata
    from routeweave.training.sft import SFTSettings, train_sft

    first, polish = tmp_path / "first", tmp_path / "polish"
    for d in (first, polish):
        d.mkdir()
        shutil.copy(work / "trajectories.jsonl", d / "trajectories.jsonl")
    a = train_sft(first / "trajectories.jsonl", first, SFTSettings(max_steps=2, grad_accum=1, learning_rate=1e-3))
    b = train_sft(polish / "trajectories.jsonl", polish,
                  SFTSettings(max_steps=1, grad_accum=1, learning_rate=1e-9, from_adapter=a["peft_adapter"]))
    assert b["complete"] and read_metadata(Path(b["gguf_adapter"]))["from_adapter"] == a["peft_adapter"]
    wa, wb = (load_file(str(Path(x["peft_adapter"]) / "adapter_model.safetensors")) for x in (a, b))
    lora_b = [k for k in wa if "lora_B" in k]
    assert lora_b and set(wa) == set(wb)
    assert max(float(abs(wa[k]).max()) for k in lora_b) > 1e-4  # two steps moved B off zero ...
    assert all(float(abs(wa[k] - wb[k]).max()) < 1e-6 for k in wa)  # ... and the continued run starts there


def test_bf16_sft_trains_under_cpu_autocast(work, tmp_path, monkeypatch):
    """--precision bf16 (an SFT epoch 1.55x faster here, benchmarks/results/sft_precision.md): the loss is computed under
    CPU bf16 autocast, the run completes and the adapter records its precision."""
    import shutil

    import torch

    from routeweave.training import sft
    from routeweave.training.export import read_metadata

    if not sft.native_cpu_bf16():
        pytest.skip("this CPU has neither AVX512-BF16 nor AMX: --precision bf16 is refused here (tested in test_train_cli)")
    shutil.copy(work / "trajectories.jsonl", tmp_path / "trajectories.jsonl")
    seen, loss = [], sft.router_token_loss

    def recording_loss(model, inputs, num_items_in_batch=None):
        seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return loss(model, inputs, num_items_in_batch)

    monkeypatch.setattr(sft, "router_token_loss", recording_loss)
    stats = sft.train_sft(tmp_path / "trajectories.jsonl", tmp_path, sft.SFTSettings(max_steps=2, grad_accum=1, precision="bf16"))
    assert stats["complete"] and stats["precision"] == "bf16"
    assert seen and all(seen), seen
    assert read_metadata(Path(stats["gguf_adapter"]))["precision"] == "bf16"


def test_export_command_writes_an_adapter_and_a_pool_that_loads(work, routeweave_cmd):
    """`routeweave train export ADAPTER --out F`: the GGUF adapter and F's pool file (the embedded pool
    with the router's requests on that adapter), as the docs tell a user to evaluate a checkpoint."""
    import subprocess

    from routeweave.agents.pool import load_pool
    from routeweave.training.export import read_metadata

    adapter = work / "sft" / "checkpoint-4"  # a checkpoint, as the docs tell a user to evaluate one mid-run
    if not (adapter / "adapter_config.json").is_file():
        pytest.skip("needs the SFT checkpoint of the test above")
    out = work / "exported" / "router-lora.gguf"
    run = subprocess.run([*routeweave_cmd, "train", "export", str(adapter), "--work", str(work), "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    from routeweave.training._graph import prompt_version

    meta = read_metadata(out)  # what the checkpoint recorded, not today's version stamped on whatever folder
    assert (meta["stage"], meta["checkpoint_step"], meta["prompt_version"]) == ("sft", "4", prompt_version())
    pool = load_pool(out.with_suffix(".toml"))
    (server,) = pool.servers.values()
    assert list(server.adapters.values()) == [str(out.resolve())]
    assert "Archive" in [e.name for e in pool.enabled]  # WORK's recorded pool
    assert pool.router.adapter in server.adapters


@pytest.mark.server
def test_one_grpo_step_runs_real_sessions(work):
    from routeweave.training.grpo import GRPOSettings, train_grpo

    if not (work / "sft" / "adapter" / "adapter_config.json").is_file():
        pytest.skip("needs the SFT adapter of the test above")
    settings = GRPOSettings(group=2, questions_per_step=1, max_steps=1, save_steps=1)
    stats = train_grpo(work, settings, data_dir=SHARED, init_adapter=work / "sft" / "adapter")
    assert stats["complete"] and Path(stats["gguf_adapter"]).is_file()
    curve = [json.loads(line) for line in Path(stats["curve"]).read_text().splitlines()]
    assert len(curve) == 1 and -1.0 <= curve[0]["reward"] <= 1.5


def test_the_dequantised_base_is_cached_and_loads_bit_for_bit(tmp_path, monkeypatch, capsys):
    """Every stage loads the base: the first load dequantises the GGUF and caches a transformers folder, later
    loads read it (no dequantising) and get the same weights, tokenizer and name; a cut-short write is ignored,
    a damaged folder is rebuilt, and a failed cache write costs only speed."""
    require_train_extra()
    import torch
    from transformers import AutoModelForCausalLM

    from routeweave.training import base

    monkeypatch.setenv("ROUTEWEAVE_CACHE_DIR", str(tmp_path))
    cached = base.dequantised_dir(base.gguf_file())
    (cached.parent / f".{cached.name}.cutshort").mkdir(parents=True)  # another process's unfinished write
    loads = []
    real = AutoModelForCausalLM.from_pretrained.__func__

    def spy(cls, *args, **kw):
        loads.append("gguf" if kw.get("gguf_file") else "folder")
        return real(cls, *args, **kw)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(spy))
    first, tok1 = base.load_base()
    assert loads == ["gguf"] and (cached / "model.safetensors").is_file()
    second, tok2 = base.load_base()
    assert loads == ["gguf", "folder"]
    one, two = first.state_dict(), second.state_dict()
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    assert second.name_or_path == first.name_or_path and not second.config.use_cache
    chat = [{"role": "user", "content": "Question: Q?"}, {"role": "assistant", "content": "<think>t</think>"}]
    assert tok2.apply_chat_template(chat, tokenize=False) == tok1.apply_chat_template(chat, tokenize=False)
    assert tok2("Ünï 1923 <answer>")["input_ids"] == tok1("Ünï 1923 <answer>")["input_ids"] and tok2.pad_token

    (cached / "model.safetensors").write_bytes(b"damaged by hand")  # a damaged cache: said, removed and rebuilt
    third, _ = base.load_base()
    assert loads == ["gguf", "folder", "folder", "gguf"] and "cannot be read" in capsys.readouterr().err
    assert torch.equal(third.lm_head.weight, first.lm_head.weight) and (cached / "model.safetensors").stat().st_size > 10**6

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(base.os, "rename", full)
    elsewhere = tmp_path / "other" / cached.name
    base._save(first, tok1, elsewhere)
    assert "could not cache the dequantised base" in capsys.readouterr().err
    assert not elsewhere.exists() and not list(elsewhere.parent.iterdir())  # nothing half-written left
