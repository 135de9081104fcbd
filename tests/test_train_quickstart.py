"""docs/training.md's "Try it in two minutes" block, run as written (the 'train' extra): questions of your own
without ids, their trajectories, one SFT step from the shipped router, and an eval of the stage's pool on those
questions that finds their paragraphs (the pool searches the corpus the teacher searched); the stage's README.md
is a true card, not TRL's Hub boilerplate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.train import require_train_extra

pytestmark = [pytest.mark.train, pytest.mark.slow, pytest.mark.server]

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def doc_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Try it in two minutes"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def table_row(stdout: str, name: str) -> dict[str, str]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    row = next(line for line in lines if line.startswith(f"| {name} |"))
    return dict(zip(head, (c.strip() for c in row.strip("|").split("|"))))


def test_the_docs_quick_block_trains_on_your_questions_and_the_eval_finds_their_paragraphs(rw_home, tmp_path):
    require_train_extra()
    block = doc_block()
    assert "--max-steps 1" in block and '"id"' not in block and "_id" not in block  # the quick form, rows without ids
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Warning:" not in out.stderr, out.stderr[-3000:]  # no library deprecation noise the user can't act on
    work = tmp_path / "rw-try" / "W"
    data = json.loads(out.stdout.splitlines()[0])
    assert data["myq:kept"] == 4 and data["settings"]["questions_only"], data
    assert [json.loads(line)["id"] for line in (work / "trajectories.jsonl").read_text().splitlines()] == [
        "myq:1#0", "myq:1#1", "myq:2#0", "myq:2#1"]  # numbered by their lines, as eval qa numbers them
    # the eval of the stage's pool on the same questions: their paragraphs are found (0.000 when the pool searched
    # only the builtin corpus)
    assert float(table_row(out.stdout, "myq.jsonl")["answer seen"]) > 0, out.stdout
    pool = (work / "sft" / "router-lora.toml").read_text()
    assert f'corpus = "{(work / "corpus-train.jsonl.gz").resolve()}"' in pool
    assert pool.startswith("# the embedded pool with its router on the trained adapter") and "PROMPTED" not in pool
    # the stage's card says what it is (TRL's said "a fine-tuned version of [None](https://huggingface.co/None)")
    card = (work / "sft" / "README.md").read_text()
    assert "huggingface.co" not in card and "[None]" not in card
    for fact in ("SmolLM2-135M-Instruct.Q4_1.gguf", "1 optimizer step,", "starting from the adapter `shipped`",
                 "4 trajectories", "--questions-only", "`routeweave train sft --work W --from-adapter shipped --max-steps 1`",
                 f"--pool {(work / 'sft' / 'router-lora.toml').resolve()}"):
        assert fact in card, (fact, card)
    assert (work / "sft" / "adapter" / "README.md").read_text() == card  # not PEFT's "[More Information Needed]"
