"""`routeweave train check`: the export agreement test on a trained stage (see agreement.py), on fixed
positions of fixed router texts: the first trajectories of the training set, router turns included."""

from __future__ import annotations

from pathlib import Path

from .agreement import measure
from .agreement import positions as spread
from .base import DEFAULT_GGUF, load_base
from .export import save_json_atomic
from .records import read_trajectories


def check_stage(work: Path, stage_dir: Path, *, positions: int = 200) -> dict:
    from peft import PeftModel

    base, tok = load_base(DEFAULT_GGUF)
    model = PeftModel.from_pretrained(base, str(stage_dir / "adapter")).eval()
    texts = [tok.apply_chat_template([m.model_dump() for m in t.messages], tokenize=False)
             for t in read_trajectories(work / "trajectories.jsonl")[:4]]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    result = measure(model, spread(ids, positions), DEFAULT_GGUF, stage_dir / "router-lora.gguf").as_dict()
    save_json_atomic(stage_dir / "agreement.json", result)
    return result

