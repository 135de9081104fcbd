"""GRPO on top of the SFT adapter: TRL's GRPOTrainer with a custom rollout (rollout.py) that runs the
real graph, the real parser and the real experts of the embedded pool, and Router-R1's reward
(reward.py) logged in its three parts. Loss on the router's tokens only (TRL's env_mask). Resumable
from WORK/grpo-a{alpha}/checkpoint-N; `stop_after_min` ends a chunk with a checkpoint. The prompts are
the HotpotQA training lines (1-350) only."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .base import DEFAULT_GGUF, TrainingError, deadline, load_base, no_checkpointing, quiet_known_warnings, stamp_checkpoints
from .reward import RewardSettings


class GRPOSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str = DEFAULT_GGUF
    reward: RewardSettings = RewardSettings()
    group: int = Field(4, ge=2, description="sessions per question (GRPO's group)")
    questions_per_step: int = Field(2, ge=1)
    micro_batch: int = Field(1, ge=1, description="sessions per forward/backward pass; the step's group x questions "
                             "sessions are accumulated (the logits of a whole batch of long conversations over "
                             "SmolLM2's 49k vocabulary took 24 GB here)")
    learning_rate: float = Field(5e-5, gt=0)
    max_steps: int = Field(40, ge=1)
    temperature: float = Field(1.0, gt=0)
    save_steps: int = Field(2, ge=1)
    seed: int = 0
    threads: int = Field(2, ge=1)
    concurrency: int = Field(2, ge=1)
    pool: str = Field("embedded-prompted", description="the pool whose router is trained: an embedded one (the adapter "
                      "goes to llama.cpp as GGUF each step) or a vLLM one (loaded with its runtime LoRA API)")


def run_dir(work: Path, s: GRPOSettings) -> Path:
    return work / f"grpo-a{s.reward.alpha:g}"


def _last_checkpoint(out: Path) -> str | None:
    ckpts = sorted((p for p in out.glob("checkpoint-*") if (p / "trainer_state.json").is_file()),
                   key=lambda p: int(p.name.split("-")[1]))
    return str(ckpts[-1]) if ckpts else None


def train_grpo(work: Path, settings: GRPOSettings, *, data_dir: Path, init_adapter: Path,
               stop_after_min: float | None = None, log=print) -> dict:
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from trl import GRPOConfig, GRPOTrainer

    from ._graph import load_pool, prompt_version
    from .export import export_peft_model
    from .rollout import rollout_pool, run_rollouts, vllm_rollout_pool
    from .sft import adapter_metadata, save_adapter
    from .sources import hotpotqa_train

    torch.set_num_threads(settings.threads)
    quiet_known_warnings()
    if not (init_adapter / "adapter_config.json").is_file():
        raise TrainingError(f"GRPO starts from a PEFT adapter: {init_adapter}/adapter_config.json not found "
                            "(run `routeweave train sft` first)")
    from . import warm_start

    warm_start.check(init_adapter, settings.base, prompt_version())  # an SFT adapter of an older prompt: refused
    out = run_dir(work, settings)
    out.mkdir(parents=True, exist_ok=True)
    examples = hotpotqa_train(data_dir)
    answers = {ex.question: ex.answers for ex in examples}
    data = Dataset.from_list([{"prompt": ex.question} for ex in examples]).shuffle(seed=settings.seed)
    base, tok = load_base(settings.base)
    model = PeftModel.from_pretrained(base, str(init_adapter), is_trainable=True)
    pool = load_pool(settings.pool)
    history: list[dict] = []
    curve = out / "reward_curve.jsonl"
    meta = adapter_metadata(settings.base, prompt_version(), f"grpo-a{settings.reward.alpha:g}")

    def rollout(prompts: list[str], trainer) -> dict:
        t0 = time.monotonic()
        unique = list(dict.fromkeys(prompts))
        if pool.router.server:  # embedded llama.cpp: the current LoRA as a GGUF adapter
            adapter = export_peft_model(trainer.model, out / "rollout-adapter.gguf", metadata=meta)
            step_pool = rollout_pool(pool, adapter, settings.temperature)
        else:  # a vLLM router server started with --enable-lora: load the current LoRA by name
            step_pool = vllm_rollout_pool(pool, trainer.model, out, trainer.state.global_step, settings.temperature)
        samples = run_rollouts(step_pool, tok, unique, answers,
                               group=settings.group, reward=settings.reward, work=out, concurrency=settings.concurrency)
        totals = [s.parts.total(settings.reward) for s in samples]
        history.append({"step": trainer.state.global_step, "reward": sum(totals) / len(totals),
                        "outcome": sum(s.parts.outcome for s in samples) / len(samples),
                        "format": sum(s.parts.format for s in samples) / len(samples),
                        "cost": sum(s.parts.cost for s in samples) / len(samples), "rollout_s": time.monotonic() - t0})
        log(json.dumps(history[-1]))
        with curve.open("a", encoding="utf-8") as f:  # at once: a killed chunk keeps its steps (read_curve dedupes)
            f.write(json.dumps(history[-1]) + "\n")
        return {
            "prompt_ids": [s.prompt_ids for s in samples], "completion_ids": [s.completion_ids for s in samples],
            "logprobs": [[0.0] * len(s.completion_ids) for s in samples], "env_mask": [s.env_mask for s in samples],
            "rw_format": [s.parts.format for s in samples], "rw_outcome": [s.parts.outcome for s in samples],
            "rw_cost": [s.parts.cost for s in samples],
        }

    def format_reward(prompts, completions, **kw):
        return list(kw["rw_format"])

    def outcome_reward(prompts, completions, **kw):
        return list(kw["rw_outcome"])

    def cost_reward(prompts, completions, **kw):
        return [-c for c in kw["rw_cost"]]

    started = time.monotonic()

    batch = settings.group * settings.questions_per_step
    if batch % settings.micro_batch:
        raise TrainingError(f"micro_batch {settings.micro_batch} must divide group x questions_per_step = {batch}")
    config = GRPOConfig(
        output_dir=str(out), per_device_train_batch_size=settings.micro_batch,
        gradient_accumulation_steps=batch // settings.micro_batch,
        num_generations=settings.group, learning_rate=settings.learning_rate, max_steps=settings.max_steps,
        beta=0.0, num_iterations=1, logging_steps=1, save_steps=settings.save_steps, save_total_limit=2,
        seed=settings.seed, report_to=[], use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(),
        max_completion_length=4096,
        reward_weights=[1.0, 1.0, settings.reward.alpha], disable_tqdm=True, **no_checkpointing(GRPOConfig),
        lr_scheduler_type="constant", warmup_steps=0,
    )

    class RouterGRPOTrainer(GRPOTrainer):
        def create_model_card(self, *args, **kwargs):  # TRL's Hub boilerplate; the finished stage writes card.py's
            pass

    trainer = RouterGRPOTrainer(model=model, reward_funcs=[format_reward, outcome_reward, cost_reward], args=config,
                                train_dataset=data, processing_class=tok, rollout_func=rollout,
                                callbacks=[deadline(started, stop_after_min), stamp_checkpoints(meta)])
    resume = _last_checkpoint(out)
    if resume:
        log(f"resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    done = trainer.state.global_step >= settings.max_steps
    stats = {"steps": trainer.state.global_step, "max_steps": settings.max_steps, "complete": done,
             "wall_s": time.monotonic() - started, "curve": str(curve)}
    if done:
        peft_dir, gguf = save_adapter(trainer.model, out, metadata=meta, steps=trainer.state.global_step)
        stats.update(peft_adapter=str(peft_dir), gguf_adapter=str(gguf))
    return stats
