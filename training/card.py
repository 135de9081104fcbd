"""The README.md of a finished stage (WORK/STAGE/README.md, and the same in its adapter/ folder): what the adapter is,
what it was trained on and how, and how to use it. TRL's and PEFT's own model cards would stand there otherwise,
boilerplate about a Hub model that does not exist ("a fine-tuned version of [None](https://huggingface.co/None)")."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

def _flags(settings: dict) -> str:
    """The `train data` options that differ from the shipped recipe, as flags."""
    from .data_settings import DataSettings

    out = []
    for key, value in settings.items():
        if key not in DataSettings.model_fields or value == DataSettings.model_fields[key].default or value in (None, []):
            continue
        flag = "--" + key.replace("_", "-")
        out += ([f"{flag} {v}" for v in value] if isinstance(value, list) else
                [flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}"])
    return " ".join(out)


def _data_line(work: Path) -> str:
    from .export import DATA_RECORD

    record, trajectories = work / DATA_RECORD, work / "trajectories.jsonl"
    if not record.is_file():
        return f"`{trajectories}` (no `{DATA_RECORD}` beside it: not written by `routeweave train data`)"
    data = json.loads(record.read_text(encoding="utf-8"))
    flags = _flags(data.get("settings") or {})
    return (f"{data.get('total', '?')} trajectories in `{trajectories}`, built by `routeweave train data"
            f"{' ' + flags if flags else ''}`{'' if flags else ' (the shipped recipe)'}; what was built: `{record}`")


def command() -> str:
    """The `routeweave train ...` command line this process runs, as typed."""
    args = sys.argv[1:]
    if "train" not in args[:2]:
        return "none: the stage was trained from Python, not by `routeweave train`"
    return shlex.join(["routeweave", *args[args.index("train"):]])


def model_card(stage_dir: Path, metadata: dict[str, str], steps: int | None) -> str:
    """The card's Markdown; ``metadata`` is what the adapter records (routeweave.json)."""
    stage_dir = stage_dir.resolve()
    work = stage_dir.parent
    m = metadata
    base = (f"`{m['base_file']}` (sha256 {m['base_sha256']})" if "base_file" in m else f"`{m.get('base_model', '?')}`")
    how = [f"{steps} optimizer step{'' if steps == 1 else 's'}" if steps is not None else "",
           f"`--epochs {m['epochs']}`" if "epochs" in m else "",
           f"{m['precision']} matmuls" if "precision" in m else "",
           f"starting from the adapter `{m['from_adapter']}`" if "from_adapter" in m else "from a fresh LoRA"]
    trained_on = (_data_line(work) if m.get("stage") == "sft"
                  else "GRPO rollouts through the real Router-R1 graph on the HotpotQA training questions, "
                       f"starting from `{work / 'sft' / 'adapter'}`")
    pool = stage_dir / "router-lora.toml"
    lines = [
        f"# routeweave router adapter: stage `{stage_dir.name}`",
        "",
        "A LoRA adapter for the router of routeweave's Router-R1 graph, written by `routeweave train`.",
        "",
        f"- base model: {base}; router prompt version `{m.get('prompt_version', '?')}`",
        f"- training: {m.get('stage', '?')}, {', '.join(x for x in how if x)}",
        f"- data: {trained_on}",
        f"- command: `{command()}`",
    ]
    files = {"adapter": "`adapter/` (PEFT: vLLM `--enable-lora`, `train sft --from-adapter`)",
             "router-lora.gguf": "`router-lora.gguf` (llama.cpp)",
             "router-lora.toml": "`router-lora.toml` (the pool it was trained for, its router on this adapter)"}
    lines.append(f"- files: {', '.join(v for k, v in files.items() if (stage_dir / k).exists())}")
    if pool.is_file():
        lines.append(f"- evaluate it: `routeweave eval qa --dataset hotpotqa-heldout --pool {pool} --graph router-r1 "
                     "--run NAME` (or `--dataset` your own questions' file)")
    return "\n".join(lines) + "\n"


def write_card(stage_dir: Path, metadata: dict[str, str], steps: int | None) -> Path:
    """README.md in the stage folder and in its adapter/ folder (replacing TRL's and PEFT's boilerplate)."""
    from .export import save_text_atomic

    text = model_card(stage_dir, metadata, steps)
    for folder in (stage_dir, stage_dir / "adapter"):
        if folder.is_dir():
            save_text_atomic(folder / "README.md", text)
    return stage_dir / "README.md"
