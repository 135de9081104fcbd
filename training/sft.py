"""SFT warm start: TRL's SFTTrainer + a PEFT LoRA on the dequantised GGUF base, loss on the router's
tokens only (see masking.py). Resumable: checkpoints in WORK/sft/checkpoint-N; `stop_after_min` ends a
chunk with a checkpoint, and the same command resumes. When training completes, the adapter is saved
in PEFT form (WORK/sft/adapter, for vLLM --enable-lora) and as GGUF (WORK/sft/router-lora.gguf, with
router-lora.toml beside it: the embedded pool with its router on that adapter, to evaluate the stage)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from .base import (DEFAULT_GGUF, TrainingError, deadline, file_sha256, gguf_file, load_base, no_checkpointing,
                   quiet_known_warnings, stamp_checkpoints)

Precision = Literal["fp32", "bf16", "auto"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class SFTSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str = DEFAULT_GGUF
    rank: int = Field(16, ge=1, le=256)
    alpha: float = Field(32.0, gt=0)
    learning_rate: float = Field(4e-4, gt=0)
    epochs: float = Field(1.0, gt=0)
    grad_accum: int = Field(4, ge=1)
    max_length: int = Field(2048, ge=64)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (tests); -1 = epochs")
    save_steps: int = Field(5, ge=1)
    seed: int = 0
    threads: int = Field(2, ge=1)
    from_adapter: str | None = Field(
        None, description="start from a trained router adapter instead of a fresh LoRA: 'shipped', a GGUF adapter or a "
        "PEFT folder (its rank and alpha replace rank and alpha)")
    precision: Precision = Field(
        "auto", description="matmuls on the CPU: fp32, or bf16 autocast (weights, LoRA and optimizer stay float32), "
        "an SFT epoch about 1.5x faster where the CPU has AVX512-BF16 or AMX (benchmarks/results/sft_precision.md); "
        "auto = bf16 where it has (the shipped adapter: two epochs in fp32, its polish in bf16)")


def router_token_loss(model, inputs, num_items_in_batch=None):
    """Cross-entropy on the labelled (router) tokens only, with the vocabulary projection computed at
    those positions alone: most of a trajectory is masked prompt and evidence, and the 49k-wide
    projection of every position is a large share of a CPU step."""
    import torch.nn.functional as F

    labels = inputs["labels"][:, 1:]
    keep = labels != -100
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = inner.model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")).last_hidden_state
    logits = inner.lm_head(hidden[:, :-1][keep]).float()
    loss = F.cross_entropy(logits, labels[keep], reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
    return loss / count


def native_cpu_bf16() -> bool:
    """The CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 autocast is emulated and slow."""
    import torch

    return any(getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def cpu_bf16(s: SFTSettings) -> bool:
    """Whether SFT on the CPU runs its matmuls under bf16 autocast. A GPU base is bfloat16 already: never."""
    if _gpu() or s.precision == "fp32":
        return False
    if s.precision == "auto":
        return native_cpu_bf16()
    if not native_cpu_bf16():
        raise TrainingError("precision 'bf16': this CPU has neither AVX512-BF16 nor AMX, so bf16 would be emulated and "
                            "slower than fp32; use --precision fp32 (or auto, which picks fp32 here)")
    return True


def router_loss_context(bf16: bool):
    """What the SFT step computes its loss under: CPU bf16 autocast, or nothing (fp32). Shared with
    benchmarks/sft_precision.py, so the benchmark times what training does."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def lora_config(s: SFTSettings):
    from peft import LoraConfig

    return LoraConfig(r=s.rank, lora_alpha=s.alpha, target_modules=TARGETS, lora_dropout=0.0, bias="none",
                      task_type="CAUSAL_LM")


def _gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _last_checkpoint(out: Path) -> str | None:
    ckpts = sorted((p for p in out.glob("checkpoint-*") if (p / "trainer_state.json").is_file()),
                   key=lambda p: int(p.name.split("-")[1]))
    return str(ckpts[-1]) if ckpts else None


def adapter_metadata(s_base: str, prompt_version: str, stage: str) -> dict[str, str]:
    from .base import is_gguf

    if not is_gguf(s_base):
        return {"base_model": s_base, "prompt_version": prompt_version, "stage": stage}
    path = gguf_file(s_base)
    return {"base_sha256": file_sha256(path), "base_file": path.name, "prompt_version": prompt_version, "stage": stage}


def save_adapter(model, out_dir: Path, *, metadata: dict[str, str], steps: int | None = None) -> tuple[Path, Path]:
    """PEFT form (a folder) and GGUF form, both written beside their final names and then renamed; the pool file
    using the GGUF one, and the stage's README.md (card.py) saying what it is."""
    from .card import write_card
    from .export import export_peft_model, save_json_atomic, write_stage_pool

    peft_dir = out_dir / "adapter"
    tmp = out_dir / ".adapter.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    save_json_atomic(tmp / "routeweave.json", metadata)
    if peft_dir.exists():
        shutil.rmtree(peft_dir)
    os.replace(tmp, peft_dir)
    gguf = None
    if "base_sha256" in metadata:  # else a Hugging Face base (GPU recipe): vLLM serves the PEFT folder
        gguf = export_peft_model(model, out_dir / "router-lora.gguf", metadata=metadata)
        write_stage_pool(gguf, out_dir.parent)
    write_card(out_dir, metadata, steps)
    return peft_dir, gguf


def sft_epochs_done(work: Path) -> float:
    """Epochs of the finished SFT adapter in WORK/sft (0: none yet; 1: one written before epochs were recorded)."""
    meta = work / "sft" / "adapter" / "routeweave.json"
    if not meta.is_file():
        return 0.0
    return float(json.loads(meta.read_text(encoding="utf-8")).get("epochs", 1.0))


def train_sft(trajectories: Path, work: Path, settings: SFTSettings, *, stop_after_min: float | None = None,
              log=print) -> dict:
    from ._graph import prompt_version
    from .records import read_trajectories

    rows = read_trajectories(trajectories)  # bad input fails here, before torch is even imported
    versions = {t.prompt_version for t in rows}
    if versions != {prompt_version()}:
        raise TrainingError(f"{trajectories}: field 'prompt_version' is {sorted(versions)}, but the router prompt is now "
                            f"{prompt_version()}; rebuild the trajectories (routeweave train data)")

    start = None
    if settings.from_adapter:
        from . import warm_start

        start = warm_start.resolve(settings.from_adapter)
        warm_start.check(start, settings.base, prompt_version())  # before torch, trl and the base model load

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from .masking import encode

    torch.set_num_threads(settings.threads)
    quiet_known_warnings()
    bf16 = cpu_bf16(settings)
    precision = "bf16" if bf16 else "fp32"
    log(f"SFT matmuls: {precision} (--precision {settings.precision})")
    model, tok = load_base(settings.base)
    peft_config = lora_config(settings)
    if start is not None:  # on resume, the checkpoint's weights then replace the adapter's
        model, peft_config = warm_start.trainable_model(model, start), None
        log(f"starting from the adapter {start}")
    data = Dataset.from_list([encode(tok, t, max_length=settings.max_length) for t in rows])
    out = work / "sft"
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    config = SFTConfig(
        output_dir=str(out), per_device_train_batch_size=1, gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate, num_train_epochs=settings.epochs, max_steps=settings.max_steps,
        lr_scheduler_type="cosine", warmup_steps=5, logging_steps=5, save_steps=settings.save_steps,
        save_total_limit=2, seed=settings.seed, report_to=[], use_cpu=not _gpu(), dataloader_num_workers=0,
        max_length=settings.max_length, bf16=False, fp16=False, disable_tqdm=True,
        **no_checkpointing(SFTConfig),  # recomputing activations costs a third more CPU; memory is ample
    )
    class RouterSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            with router_loss_context(bf16):
                loss = router_token_loss(model, inputs, num_items_in_batch)
            return (loss, None) if return_outputs else loss

        def create_model_card(self, *args, **kwargs):  # TRL's Hub boilerplate; the finished stage writes card.py's
            pass

    meta = {**adapter_metadata(settings.base, next(iter(versions)), "sft"), "epochs": str(settings.epochs),
            **({"from_adapter": str(settings.from_adapter)} if settings.from_adapter else {}), "precision": precision}
    trainer = RouterSFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok, peft_config=peft_config,
                               callbacks=[deadline(started, stop_after_min), stamp_checkpoints(meta)])
    resume = _last_checkpoint(out)
    if resume:
        log(f"resuming from {resume}")
    result = trainer.train(resume_from_checkpoint=resume)
    done = trainer.state.global_step >= trainer.state.max_steps
    tokens = sum(len(r["input_ids"]) for r in data)
    stats = {"steps": trainer.state.global_step, "max_steps": trainer.state.max_steps, "complete": done,
             "precision": precision,
             "train_runtime_s": result.metrics.get("train_runtime"), "dataset_tokens": tokens,
             "log": [h for h in trainer.state.log_history if "loss" in h]}
    if done:
        peft_dir, gguf = save_adapter(trainer.model, out, metadata=meta, steps=trainer.state.global_step)
        stats.update(peft_adapter=str(peft_dir), gguf_adapter=str(gguf))
    return stats
