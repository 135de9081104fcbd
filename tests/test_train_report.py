"""`routeweave train report`: the GRPO reward curves of a working folder and the cost-quality points of
stored eval runs, as PNGs and a Markdown table whose numbers are those of the files (no torch needed)."""

from __future__ import annotations

import json
import subprocess

from routeweave.evals.qa.store import ResultStore


def report(routeweave_cmd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*routeweave_cmd, "train", "report", *map(str, args)], capture_output=True, text=True, timeout=120)


def write_curve(folder, rewards):
    folder.mkdir(parents=True)
    rows = [{"step": i, "reward": r, "outcome": r / 2, "format": 0.0, "cost": 0.1, "rollout_s": 100.0}
            for i, r in enumerate(rewards)]
    (folder / "reward_curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_run(db, run, ems, cost):
    with ResultStore(db) as store:
        store.open_run(run, {"graph": "router-r1"}, total=len(ems))
        for i, em in enumerate(ems):
            store.write({"run": run, "dataset": "hotpotqa-heldout", "example_id": str(i), "question": "q", "answers": ["a"],
                         "prediction": "a", "em": em, "f1": em, "cost_usd": cost, "cost_units": 1.0, "rounds": 1,
                         "expert_calls": 1, "latency_s": 1.0, "error": None})


def test_report_plots_every_alpha_and_every_named_run_with_their_own_numbers(routeweave_cmd, tmp_path):
    work = tmp_path / "work"
    write_curve(work / "grpo-a0.5", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    write_curve(work / "grpo-a0", [1.0, 1.0])
    with (work / "grpo-a0" / "reward_curve.jsonl").open("a") as f:  # step 1 again: a killed chunk, resumed
        f.write(json.dumps({"step": 1, "reward": 3.0, "outcome": 1.0, "format": 0.0, "cost": 0.1, "rollout_s": 100.0}) + "\n")
    (work / "grpo-a0.2").mkdir()  # a run that has not finished a chunk yet: no curve, not an error
    db = tmp_path / "evals.db"
    write_run(db, "ho-sft", [1, 0, 0, 0], 0.0002)
    write_run(db, "ho-rl", [1, 1, 0, 0], 0.0001)
    out = report(routeweave_cmd, "--work", work, "--results-db", db, "--run", "SFT=ho-sft", "--run", "α=0=ho-rl",
                 "--out", tmp_path / "rep")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split("|")[1].strip() for line in lines if line.startswith("| α=")] == ["α=0", "α=0.5", "α=0"]
    a05 = next(line for line in lines if line.startswith("| α=0.5 |"))
    assert a05.split("|")[2].strip() == "7" and a05.split("|")[4].strip() == "0.400"  # last 5 of 0.2..0.6
    a0 = next(line for line in lines if line.startswith("| α=0 |"))
    assert [c.strip() for c in a0.split("|")[2:5]] == ["2", "1.000", "2.000"]  # the rerun step counted once, last row
    sft = next(line for line in lines if line.startswith("| SFT |"))
    assert [c.strip() for c in sft.split("|")[4:7]] == ["0.250", "0.250", "0.000200"]
    rl = next(line for line in lines if line.startswith("| α=0 | `ho-rl`"))
    assert [c.strip() for c in rl.split("|")[4:7]] == ["0.500", "0.500", "0.000100"]
    for png in ("reward_curve.png", "cost_quality.png"):
        data = (tmp_path / "rep" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert (tmp_path / "rep" / "training_report.md").read_text().strip() == out.stdout.strip()


def test_report_errors_name_what_is_missing(routeweave_cmd, tmp_path):
    db = tmp_path / "evals.db"
    write_run(db, "ho-sft", [1], 0.0002)
    out = report(routeweave_cmd, "--work", tmp_path, "--results-db", db, "--run", "SFT=nope")
    assert out.returncode == 2 and "run 'nope' has no results" in out.stderr and "ho-sft" in out.stderr
    out = report(routeweave_cmd, "--work", tmp_path, "--results-db", db, "--run", "no-label")
    assert out.returncode == 2 and "LABEL=RUN" in out.stderr
    out = report(routeweave_cmd, "--work", tmp_path)
    assert out.returncode == 2 and "nothing to report" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "report").exists()
