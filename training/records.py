"""A trajectory: one router session as chat messages, in exactly the graph's format. Assistant
messages are the router's own tokens (trained); system/user messages (prompt, question,
<information>, status) are context (masked). Stored as JSON Lines, written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routeweave.agents.files import temp_beside

from .base import TrainingError


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Trajectory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="source:example id[:variant]")
    source: str = Field(description="hotpotqa-teacher | musique-teacher | rejection | llm-expert ...")
    question: str
    answers: list[str] = Field(min_length=1)
    messages: list[Message] = Field(min_length=3)
    prompt_version: str
    experts: list[str] = Field(description="the expert names this session's prompt listed")


def write_jsonl(path: Path, rows: Iterable[BaseModel]) -> int:
    """Write rows to `path` atomically (temp file + rename): a half-written file never has its name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(path)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(row.model_dump_json() + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def read_trajectories(path: Path) -> list[Trajectory]:
    """Every line a Trajectory; a bad line is a TrainingError naming the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"trajectory file {path} does not exist: build it with `routeweave train data --work "
                            f"{path.parent}` (or pass the --work folder that holds it)")
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Trajectory.model_validate(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise TrainingError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(map(str, err["loc"])) or "(row)"
                raise TrainingError(f"{path}:{lineno}: field '{field}': {err['msg']}") from None
    if not out:
        raise TrainingError(f"trajectory file {path} has no trajectories")
    return out
