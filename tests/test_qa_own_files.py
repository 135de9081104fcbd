"""`routeweave eval qa` / `eval report` on a user's own QA files, as a user runs them: the real CLI (`main`, in
process, and one real process for Ctrl-C) on a mock pool (LiteLLM mock_response: no server), real files and the
real SQLite results store. Labels and clashes, bad bytes, skipped rows and --strict, argument checks, help texts,
Ctrl-C, and the per-question export."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from routeweave.evals.qa.store import ResultStore
from routeweave.ui.cli import main
from test_qa_run import MOCK_POOL, eval_cmd, rows_in


def qa_file(path: Path, rows: list[dict | str | bytes]) -> Path:
    """A JSON Lines file: dicts as JSON, str and bytes lines as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode() for r in rows]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def towers(ids, answer: object = "1889") -> list[dict]:
    return [{"id": f"q{i}", "question": f"When was tower {i} built?", "answer": answer} for i in ids]


@pytest.fixture
def qa(tmp_path, capsys):
    """`routeweave eval qa ARGS` (direct graph, mock pool, results in tmp_path/evals.db) -> (exit code, stdout, stderr)."""
    (tmp_path / "mock.toml").write_text(MOCK_POOL)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["eval", "qa", "--pool", str(tmp_path / "mock.toml"), "--graph", "direct", "--no-progress",
                     "--trace-db", str(tmp_path / "t.db"), "--db", str(tmp_path / "evals.db"), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture
def report(tmp_path, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["eval", "report", "--db", str(tmp_path / "evals.db"), *map(str, args)])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_two_files_of_one_name_are_refused_before_anything_runs(tmp_path, qa):
    """good.jsonl and other/good.jsonl both got the label 'good': q1/q2 overwrote each other and the run stayed
    'incomplete' forever (exit 3)."""
    good = qa_file(tmp_path / "good.jsonl", towers(range(1, 7)))
    other = qa_file(tmp_path / "other" / "good.jsonl", [{"id": f"q{i}", "question": f"Other {i}?", "answer": "x"}
                                                         for i in (1, 2)])
    code, _, err = qa("--dataset", f"{good},{other}", "--run", "stem-clash")
    assert code == 2 and f"({good})" in err and f"({other})" in err and "both be labelled 'good.jsonl'" in err
    assert "rename or copy one of the files" in err
    assert not (tmp_path / "evals.db").exists()  # nothing ran, nothing was stored
    code, _, err = qa("--dataset", f"{good},{tmp_path}/./good.jsonl", "--run", "twice")
    assert code == 2 and f"names {good} twice ('{good}' and '{tmp_path}/./good.jsonl'); list it once" in err
    # renamed, the two files are two datasets of one run: all 8 questions, none overwritten
    renamed = other.rename(tmp_path / "other" / "good2.jsonl")
    code, out, err = qa("--dataset", f"{good},{renamed}", "--run", "both", "--json")
    assert code == 0, err
    assert json.loads(out)["done"] == 8 and len(rows_in(tmp_path / "evals.db")) == 8


def test_same_catalog_dataset_twice_is_refused(tmp_path, qa):
    data = tmp_path / "data"
    qa_file(data / "nq" / "test_subsample1000.jsonl", [{"id": "n1", "question": "Q?", "golden_answers": ["a"]}])
    code, _, err = qa("--dataset", "nq,NQ", "--data-dir", data, "--run", "nq2")
    assert code == 2 and "twice ('nq' and 'NQ')" in err


def test_a_non_utf8_byte_skips_its_row_named_by_file_and_line(tmp_path, qa):
    path = qa_file(tmp_path / "latin.jsonl", [json.dumps(towers([1])[0]).encode(),
                                              '{"id": "q2", "question": "Caf\u00e9?", "answer": "x"}'.encode("latin-1"),
                                              json.dumps(towers([3])[0]).encode()])
    code, out, err = qa("--dataset", path, "--run", "latin", "--json")
    assert code == 0, err
    assert f"{path} (line 2): not UTF-8: byte 0xe9 at column 30" in err and "codec can't decode" not in err
    assert json.loads(out)["done"] == 2


def test_a_users_nq_jsonl_is_not_the_nq_benchmark_and_stored_runs_keep_their_labels(tmp_path, qa, report):
    data = tmp_path / "data"
    qa_file(data / "nq" / "test_subsample1000.jsonl", [{"id": "n1", "question": "When?", "golden_answers": ["1889"]}])
    mine = qa_file(tmp_path / "nq.jsonl", towers([1, 2]))
    assert qa("--dataset", mine, "--run", "mine")[0] == 0
    assert qa("--dataset", "nq", "--data-dir", data, "--run", "bench")[0] == 0
    with ResultStore(tmp_path / "evals.db") as store:
        assert store.run_config("mine")["datasets"] == ["nq.jsonl"] and store.run_config("bench")["datasets"] == ["nq"]
        assert {r["dataset"] for r in store.rows("mine")} == {"nq.jsonl"}
    code, md, _ = report("mine")
    assert code == 0 and "| paper:" not in md and "| NQ |" not in md and "## nq.jsonl" in md
    code, md, _ = report("bench")
    assert code == 0 and "| paper: Router-R1-Qwen (Qwen2.5-3B) | 0.388 |" in md and "## NQ" in md
    bare = qa_file(tmp_path / "nq", towers([1]))  # no suffix: its file name would be the benchmark's
    code, _, err = qa("--dataset", bare, "--run", "bare")
    assert code == 2 and "rename it with its suffix, e.g. nq.jsonl" in err


def test_a_run_stored_under_the_files_old_label_reports_and_resumes_under_it(tmp_path, qa, report):
    """Runs stored before files were labelled by file name have the stem ('toy'): they still report, and resuming one
    keeps its label (no refusal, no second copy of its questions)."""
    toy = qa_file(tmp_path / "toy.jsonl", towers(range(4)))
    assert qa("--dataset", toy, "--run", "old", "--limit", "2", "--seed", "-1")[0] == 0
    conn = sqlite3.connect(tmp_path / "evals.db")  # what an older routeweave wrote
    config = json.loads(conn.execute("select config from qa_runs where run = 'old'").fetchone()[0])
    config.update(datasets=["toy"], dataset_sha256={"toy": config["dataset_sha256"]["toy.jsonl"]})
    del config["skipped_rows"]
    conn.execute("update qa_runs set config = ?, total = 4", [json.dumps(config)])
    conn.execute("update qa_results set dataset = 'toy'")
    conn.commit()
    conn.close()
    code, md, _ = report("old")
    assert code == 0 and "| old | direct | toy | first 2 | mock.toml | 2/4 | 0 | – |" in md
    code, out, err = qa("--dataset", toy, "--run", "old", "--limit", "2", "--seed", "-1", "--json")
    assert code == 0, err
    assert "2 already done, 0 to run" in err and json.loads(out)["done"] == 2
    assert {d for d, *_ in rows_in(tmp_path / "evals.db")} == {"toy"} and len(rows_in(tmp_path / "evals.db")) == 2


def test_skipped_rows_are_counted_stored_and_reported_and_strict_refuses_them(tmp_path, qa, report):
    bad = ["not json", {"id": "b1", "question": "no answer"}, {"question": "Q?", "answer": True}, "[1, 2]",
           {"id": "q0", "question": "dup?", "answer": "x"}, {"id": "b2", "question": " ", "answer": "x"},
           {"question": "Q?", "answer": {"text": "x"}}]
    mixed = qa_file(tmp_path / "mixed.jsonl", towers(range(3)) + bad)
    code, _, err = qa("--dataset", mixed, "--run", "strict", "--strict")
    assert code == 2 and "--strict: 7 malformed row(s), nothing was run" in err
    assert all(f"{mixed} (line {n}):" in err for n in range(4, 11))  # every one listed
    with ResultStore(tmp_path / "evals.db") as store:
        assert store.run_config("strict") is None
    code, out, err = qa("--dataset", mixed, "--run", "lax", "--json")
    assert code == 0, err  # skipping is documented: still exit 0...
    assert err.count(f"\n  - {mixed} (line") == 5 and "... and 2 more (--strict lists every one and runs nothing)" in err
    # ...but said in the final line, the JSON, the stored run and its report
    assert err.rstrip().endswith("run 'lax' complete: 3/3 question(s); 7 malformed row(s) of the dataset file(s) "
                                 "skipped, not in the run (mixed.jsonl: 7; --strict refuses them)")
    assert json.loads(out)["skipped_rows"] == {"mixed.jsonl": 7}
    with ResultStore(tmp_path / "evals.db") as store:
        assert store.run_config("lax")["skipped_rows"] == {"mixed.jsonl": 7}
    code, md, _ = report("lax")
    assert "| lax | direct | mixed.jsonl | all | mock.toml | 3/3 | 0 | 7 |" in md
    assert json.loads(report("lax", "--json")[1])["runs"][0]["skipped_rows"] == 7
    # the count describes the run, it does not set it up: a resume is not refused over it, and rewrites it
    with ResultStore(tmp_path / "evals.db") as store:
        config = store.run_config("lax")
        assert store.open_run("lax", {**config, "skipped_rows": {"mixed.jsonl": 6}}, total=3) is True
        assert store.run_config("lax")["skipped_rows"] == {"mixed.jsonl": 6}


def test_numeric_answers_run_and_a_csv_file_is_refused(tmp_path, qa):
    nums = qa_file(tmp_path / "nums.jsonl", [{"id": "a", "question": "Legs of a spider?", "answer": 8},
                                             {"id": "b", "question": "Year?", "answers": [1889]}])
    code, out, err = qa("--dataset", nums, "--run", "nums", "--json")
    assert code == 0 and json.loads(out)["done"] == 2 and "malformed" not in err
    with ResultStore(tmp_path / "evals.db") as store:
        assert sorted(r["answers"] for r in store.rows("nums")) == [["1889"], ["8"]]
    table = tmp_path / "q.csv"
    table.write_text("id,question,answer\nq1,Legs of a spider?,8\n")
    code, _, err = qa("--dataset", table, "--run", "csv")
    assert code == 2 and "CSV is not supported" in err and err.count("invalid JSON") == 1


@pytest.mark.parametrize("args, message", [
    (["--stop-after", "0"], "argument --stop-after: must be more than 0 minutes, got 0"),
    (["--stop-after", "-1"], "argument --stop-after: must be more than 0 minutes, got -1"),
    (["--stop-after", "soon"], "argument --stop-after: 'soon' is not a number of minutes"),
    (["--timeout", "-5"], "argument --timeout: must be 0 or more seconds, got -5; 0 = no timeout"),
])
def test_stop_after_and_timeout_are_checked(tmp_path, qa, capsys, args, message):
    toy = qa_file(tmp_path / "toy.jsonl", towers(range(2)))
    with pytest.raises(SystemExit) as info:
        qa("--dataset", toy, "--run", "x", *args)
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "evals.db").exists()


def test_timeout_0_is_no_timeout_and_the_help_texts_say_what_they_do(tmp_path, qa, capsys):
    toy = qa_file(tmp_path / "toy.jsonl", towers(range(2)))
    code, out, _ = qa("--dataset", toy, "--run", "t0", "--timeout", "0", "--json")
    assert code == 0 and json.loads(out)["errors_this_time"] == 0
    helps = {}
    for cmd in ("qa", "report"):
        with pytest.raises(SystemExit):
            main(["eval", cmd, "--help"])
        helps[cmd] = " ".join(capsys.readouterr().out.split())
    assert "0 = no timeout" in helps["qa"] and "--strict" in helps["qa"]
    assert "--out docs" not in helps["qa"] and "eval report r1-hotpot" not in helps["qa"]  # describes eval qa only
    assert "REPORT.md" not in helps["report"]
    assert "NAME.md, NAME.json, NAME.png (EM vs cost) and NAME_f1.png" in helps["report"]


def test_report_warns_when_runs_of_one_dataset_drew_different_questions(tmp_path, qa, report):
    toy = qa_file(tmp_path / "toy.jsonl", towers(range(20)))
    for run, seed in (("s0", "0"), ("s1", "1"), ("s0-again", "0")):
        assert qa("--dataset", toy, "--run", run, "--limit", "3", "--seed", seed)[0] == 0
    code, md, err = report("s0", "s1")
    warning = "toy.jsonl: the runs were on different questions (s0: 3, seed 0; s1: 3, seed 1)"
    assert code == 0 and f"warning: {warning}" in err and f"**Note:** {warning}" in md
    assert "| s1 | direct | toy.jsonl | 3, seed 1 |" in md
    code, md, err = report("s0", "s0-again")
    assert code == 0 and "warning" not in err and "**Note:**" not in md


def test_report_writes_one_row_per_question_as_jsonl_or_csv(tmp_path, qa, report):
    toy = qa_file(tmp_path / "toy.jsonl", towers(range(3)))
    assert qa("--dataset", toy, "--run", "a")[0] == 0
    code, _, err = report("a", "--questions", tmp_path / "out" / "q.jsonl")
    assert code == 0 and "wrote 3 question row(s)" in err
    rows = [json.loads(line) for line in (tmp_path / "out" / "q.jsonl").read_text().splitlines()]
    assert [(r["run"], r["dataset"]) for r in rows] == [("a", "toy.jsonl")] * 3
    assert sorted(r["id"] for r in rows) == ["q0", "q1", "q2"] and all(r["gold"] == ["1889"] for r in rows)
    assert set(rows[0]) == {"run", "dataset", "id", "question", "gold", "prediction", "em", "f1", "cost_usd",
                            "stop_reason", "error", "session_id", "trace_db"}
    assert all(r["session_id"] and r["stop_reason"] == "answered" and r["prediction"] for r in rows)
    assert report("a", "--questions", tmp_path / "q.csv")[0] == 0
    with (tmp_path / "q.csv").open(newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["id"], json.loads(r["gold"])) for r in table] == [(r["id"], r["gold"]) for r in rows]
    code, _, err = report("a", "--questions", tmp_path / "q.txt")
    assert code == 2 and "name the file *.jsonl or *.csv" in err and not (tmp_path / "q.txt").exists()


def test_ctrl_c_says_how_to_resume_and_the_resume_finishes_the_run(tmp_path):
    toy = qa_file(tmp_path / "toy.jsonl", towers(range(600)))
    (tmp_path / "mock.toml").write_text(MOCK_POOL)
    db = tmp_path / "evals.db"
    cmd = eval_cmd("qa", "--dataset", str(toy), "--pool", str(tmp_path / "mock.toml"), "--graph", "direct", "--run", "int",
                   "--db", str(db), "--trace-db", str(tmp_path / "t.db"), "--no-progress", "--json")
    # a process started in the background may inherit SIGINT ignored: restore it, as a terminal's Ctrl-C finds it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (db.exists() and _count(db) >= 10):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err and "Traceback" not in err
    stored = _count(db)
    assert f"interrupted: run 'int' has {stored}/600 question(s) stored" in err and 10 <= stored < 600
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["done"] == 600 and len(rows_in(db)) == 600


def _count(db: Path) -> int:
    try:
        return len(rows_in(db))
    except sqlite3.OperationalError:
        return 0
