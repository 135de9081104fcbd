"""Rejection-sampled trajectories from recorded `eval qa` runs of any pool: keep the sessions whose
answer scored F1 >= a threshold, drop every held-out question, and take the router's conversation
from the session's LangGraph checkpoint (exactly what the router saw and wrote), closed by its final
<think>/<answer> turn from the trace. Runs of a stronger pool (remote APIs, vLLM) so distill into the
local router."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from ._graph import prompt_version
from .base import TrainingError
from .records import Message, Trajectory
from .sources import HOTPOT_FILE, HOTPOT_TRAIN_LINES
from routeweave.evals.qa.datasets import heldout_questions
from routeweave.evals.qa.metrics import normalize_answer

HELDOUT_DATASETS = {"hotpotqa-heldout"}


def heldout_ids(data_dir: Path) -> set[str]:
    """Ids of the HotpotQA held-out lines (351-500) and their normalised questions (`is_heldout` checks both):
    never trained on, whatever run or file they come from, under whatever id (the full HotpotQA dev file has the
    same questions without ids)."""
    path = Path(data_dir) / HOTPOT_FILE
    if not path.is_file():
        raise TrainingError(f"HotpotQA file {path} not found: needed to drop the held-out questions (pass --data-dir)")
    ids = set()
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if n <= HOTPOT_TRAIN_LINES[1] or not line.strip():
                continue
            try:
                row = json.loads(line)
                ids.add(str(row.get("id") or row["_id"]))
            except (ValueError, KeyError, AttributeError):
                raise TrainingError(f"{path} (line {n}): no field 'id' (or '_id') in a JSON object: the held-out "
                                    "questions can't be told apart; use the shared copy (pass --data-dir)") from None
    return ids | {QUESTION_KEY + q for q in heldout_questions(Path(data_dir)) or ()}  # the one normalisation fit uses


QUESTION_KEY = "question:"


def is_heldout(held: set[str], example_id: str, question: str) -> bool:
    return example_id in held or QUESTION_KEY + normalize_answer(question) in held


def _checkpoint_messages(checkpoint_db: Path, session_id: str) -> list[dict] | None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    with sqlite3.connect(str(checkpoint_db), check_same_thread=False) as conn:
        found = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": session_id}})
    return (found.checkpoint.get("channel_values") or {}).get("messages") if found else None


def final_turn(steps: list[dict]) -> str | None:
    answer = next((s for s in reversed(steps) if s["kind"] == "answer"), None)
    if answer is None:
        return None
    think = next((s for s in reversed(steps) if s["kind"] == "think" and s["round"] == answer["round"]), None)
    return f"<think>{(think or {}).get('text') or ''}</think>\n<answer>{answer['text']}</answer>"


def _recorded_version(results_db: Path, run: str, config: dict) -> str:
    """The router prompt the run's conversations were recorded under: the one the router trains for, or refused
    (a trajectory stamped with today's version but showing an older prompt would pass every later check)."""
    recorded, now = config.get("graph_version"), prompt_version()
    if recorded is None:
        raise TrainingError(f"{results_db}: run '{run}' records no router prompt version (field 'graph_version'; "
                            f"graph {config.get('graph')!r}, or a run of a routeweave older than the field), so its "
                            "conversations can't be checked against the prompt the router trains on: record it again "
                            "with `routeweave eval qa --graph router-r1 --run NEW_NAME ...`")
    if recorded != now:
        raise TrainingError(f"{results_db}: run '{run}' field 'graph_version' is {recorded}, but the router prompt is "
                            f"now {now}: its conversations show another prompt; record it again with `routeweave eval "
                            "qa --graph router-r1 --run NEW_NAME ...`")
    return recorded


def from_run(results_db: Path, run: str, *, data_dir: Path, min_f1: float = 0.5) -> tuple[list[Trajectory], dict]:
    from routeweave.evals.qa.store import ResultStore
    from routeweave.serving.paths import checkpoint_path
    from routeweave.serving import TraceStore

    if not Path(results_db).is_file():
        raise TrainingError(f"results database {results_db} does not exist (run `routeweave eval qa` first)")
    with ResultStore(results_db) as store:
        config = store.run_config(run)
        if config is None:
            raise TrainingError(f"{results_db}: no run named '{run}' (field 'run')")
        rows = store.rows(run)
    version = _recorded_version(results_db, run, config)
    held = heldout_ids(data_dir)
    stats = {"rows": len(rows), "heldout_dropped": 0, "below_threshold": 0, "no_trace": 0, "kept": 0}
    out = []
    for row in rows:
        if row["dataset"] in HELDOUT_DATASETS or is_heldout(held, row["example_id"], row["question"] or ""):
            stats["heldout_dropped"] += 1
            continue
        if row["error"] or row["stop_reason"] != "answered" or row["f1"] < min_f1:
            stats["below_threshold"] += 1
            continue
        trace_db = Path(row["trace_db"]) if row.get("trace_db") else None
        session = TraceStore(trace_db).get(row["session_id"]) if trace_db and trace_db.is_file() else None
        messages = _checkpoint_messages(checkpoint_path(trace_db), row["session_id"]) if session else None
        final = final_turn(session["steps"]) if session else None
        if not messages or final is None:
            stats["no_trace"] += 1
            continue
        msgs = [Message(role=m["role"], content=m["content"]) for m in messages] + [Message(role="assistant", content=final)]
        experts = re.findall(r"^- ([A-Za-z][\w.-]*) \((?:\$|free\))", msgs[0].content, re.M)  # as system_prompt lists them
        answers = json.loads(row["answers"]) if isinstance(row["answers"], str) else row["answers"]
        out.append(Trajectory(id=f"{run}:{row['dataset']}:{row['example_id']}", source=f"rejection:{run}",
                              question=row["question"], answers=answers,
                              messages=msgs, prompt_version=version, experts=experts))
    stats["kept"] = len(out)
    if not out:
        raise TrainingError(f"{results_db}: run '{run}' has no answered session with F1 >= {min_f1} outside the held-out "
                            f"set ({stats}); lower --min-f1 or use another run")
    return out, stats
