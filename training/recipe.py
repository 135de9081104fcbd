"""`routeweave train all`: the shipped recipe, stage by stage, each skipped once done and resumed if cut short.

    data → SFT epoch 1 → SFT epoch 2 → polish (data, one more epoch from the last adapter) … → [GRPO] → check → ship

The stages are cli.py's own commands (run_data, run_sft, …), called with the recipe's settings; the user's
pool and questions go into every data build."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from .data_settings import DataSettings
from .sft import sft_epochs_done

# the SFT: one epoch (a cosine schedule to zero), then a second resumed from it with the schedule stretched over
# two (so it restarts at half the peak learning rate)
SFT_EPOCHS = 2


@dataclass(frozen=True)
class Polish:
    """One more SFT epoch from the previous stage's adapter, on its own fresh trajectories, in WORK/<folder>."""
    folder: str
    data: dict = field(default_factory=dict)  # DataSettings fields over the defaults
    sft: dict = field(default_factory=dict)  # SFT arguments (epochs, learning_rate)


# nineteenth session: a quarter of the peak learning rate, evidence ranked by the question (as the shipped pools
# serve it) and every session showing a varied expert list (none the served pool's own)
POLISHES = (Polish("polish", {"rank_by_question": True, "default_share": 0.0}, {"epochs": 1.0, "learning_rate": 1e-4}),)


def data_args(args, work: Path, **settings) -> argparse.Namespace:
    """run_data's arguments into ``work``: the recipe's DataSettings (``settings`` over them) with the user's pool
    and questions, and no rejection-sampled runs."""
    return argparse.Namespace(**{**vars(args), **DataSettings().model_dump(), **settings, "work": work, "pool": args.pool,
                                 "questions": args.questions, "questions_only": args.questions_only,
                                 "from_run": [], "results_db": None})


def run_polish(args, polish: Polish, work: Path, start: Path) -> int:
    """``polish`` in ``work``: its trajectories, then SFT from the adapter of the stage folder ``start``
    (``start/sft/adapter``: the two SFT epochs' for the first polish, the previous polish's after it)."""
    from . import cli

    if not (work / "trajectories.jsonl").is_file() and cli.run_data(data_args(args, work, **polish.data)):
        return 2
    if sft_epochs_done(work) < polish.sft.get("epochs", 1.0):
        return cli.run_sft(argparse.Namespace(**{**vars(args), "epochs": 1.0, **polish.sft, "work": work, "max_steps": None,
                                                 "from_adapter": str(start / "sft" / "adapter")}))
    return 0


TRAIN_MODULES = ("torch", "transformers", "trl", "peft", "gguf", "accelerate")  # the 'train' extra


def require_train_extra() -> None:
    """Refuse before the first stage, not after the trajectories are built, when the 'train' extra is missing."""
    import importlib.util

    missing = [m for m in TRAIN_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"no module named {missing[0]!r}", name=", ".join(missing))


def run_all(args) -> int:
    require_train_extra()
    from . import cli
    from .grpo import GRPOSettings, run_dir
    from .reward import RewardSettings

    work = cli._work(args)
    if not (work / "trajectories.jsonl").is_file() and cli.run_data(data_args(args, work)):
        return 2
    for epochs in range(1, SFT_EPOCHS + 1):
        if sft_epochs_done(work) < epochs:
            args.epochs, args.max_steps = float(epochs), None
            rc = cli.run_sft(args)
            if rc:
                return rc
    root = work
    for stage in () if args.no_polish else POLISHES:
        rc = run_polish(args, stage, root / stage.folder, start=work)
        if rc:
            return rc
        work = root / stage.folder  # the next polish, GRPO, the check and the ship go on from this adapter
    args.work = work
    stage = "sft" if args.no_grpo else run_dir(work, GRPOSettings(reward=RewardSettings(alpha=args.alpha))).name
    if not (work / stage / "adapter" / "routeweave.json").is_file():
        rc = cli.run_grpo(args)
        if rc:
            return rc
    if args.base and not args.base.endswith(".gguf"):
        print(f"done: PEFT adapter in {work / stage / 'adapter'} (serve it with vLLM --enable-lora)")
        return 0
    args.stage, args.positions, args.to = stage, 200, None
    return cli.run_check(args) or cli.run_ship(args)
