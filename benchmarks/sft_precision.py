"""SFT step throughput, fp32 against bf16 autocast (`routeweave train sft --precision`), in one process: the
same LoRA model (r=16, all linear layers, on the dequantised SmolLM2 GGUF) takes a forward and backward pass of
the router-token loss over the same trajectories, the two precisions alternating round by round, so both see
the same machine. Reports tokens/s of each, their ratio, and how far the bf16 losses are from the fp32 ones.

    flock /tmp/routeweave-cpu.lock python benchmarks/sft_precision.py [--trajectories WORK/trajectories.jsonl]
        [--n 4] [--rounds 3] [--out benchmarks/results/sft_precision.md]

Needs the 'train' extra and a trajectory file (`routeweave train data`). Run it on a quiet machine."""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trajectories", type=Path, default=Path.home() / ".cache/routeweave/train/trajectories.jsonl")
    ap.add_argument("--n", type=int, default=4, help="trajectories per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = ap.parse_args()

    import torch
    from peft import get_peft_model

    from routeweave.training.base import load_base
    from routeweave.training.masking import encode
    from routeweave.training.records import read_trajectories
    from routeweave.training.sft import (SFTSettings, lora_config, native_cpu_bf16, router_loss_context,
                                         router_token_loss)

    torch.set_num_threads(args.threads)
    model, tok = load_base()
    model = get_peft_model(model, lora_config(SFTSettings()))
    rows = read_trajectories(args.trajectories)[: args.n]
    batches = []
    for t in rows:
        enc = encode(tok, t)
        batches.append({"input_ids": torch.tensor([enc["input_ids"]]), "labels": torch.tensor([enc["labels"]])})
    tokens = sum(b["input_ids"].shape[1] for b in batches)

    def one_round(bf16: bool) -> tuple[float, list[float]]:
        t0, losses = time.perf_counter(), []
        for b in batches:
            with router_loss_context(bf16):
                loss = router_token_loss(model, b)
            loss.backward()
            losses.append(float(loss))
        model.zero_grad()
        return tokens / (time.perf_counter() - t0), losses

    one_round(False)  # warm-up
    rates: dict[bool, list[float]] = {False: [], True: []}
    losses: dict[bool, list[float]] = {}
    for _ in range(args.rounds):
        for bf16 in (False, True):
            rate, losses[bf16] = one_round(bf16)
            rates[bf16].append(rate)
    fp32, bf16 = statistics.median(rates[False]), statistics.median(rates[True])
    gap = max(abs(a - b) for a, b in zip(losses[False], losses[True]))
    lines = [
        f"# SFT throughput: fp32 vs bf16 autocast ({platform.processor() or platform.machine()}, {args.threads} threads, "
        f"AVX512-BF16/AMX: {native_cpu_bf16()}, torch {torch.__version__})",
        "",
        f"`python benchmarks/sft_precision.py --n {args.n} --rounds {args.rounds}`: {len(batches)} trajectories, "
        f"{tokens} tokens a round, forward + backward of the router-token loss, the precisions alternating.",
        "",
        "| precision | tokens/s (median of rounds) | rounds |",
        "|---|---:|---|",
        f"| fp32 | {fp32:.1f} | {', '.join(f'{r:.1f}' for r in rates[False])} |",
        f"| bf16 autocast | {bf16:.1f} | {', '.join(f'{r:.1f}' for r in rates[True])} |",
        "",
        f"**bf16 / fp32 throughput: {bf16 / fp32:.2f}x**; largest |loss(bf16) − loss(fp32)| over the trajectories: {gap:.4f} "
        f"(losses {min(losses[False]):.3f}–{max(losses[False]):.3f}).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
