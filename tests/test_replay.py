"""`routeweave replay`: real sessions, recorded by the real graphs on a stub OpenAI server (router tokens,
a fallback that takes over, a budget that skips a call) and real `eval qa` runs, into real SQLite files;
then re-priced and re-decided offline. The same pool reproduces the recorded cost exactly, doubled prices
double it, a policy replayed over the runs' outcome table gives `eval routing`'s numbers, and bad input
(a pool missing an expert, a policy fitted for other experts, an unknown id) is reported, not hidden."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from routeweave.evals.fit import outcome_table
from routeweave.evals.qa.datasets import Example
from routeweave.evals.qa.runner import run_examples
from routeweave.evals.qa.store import ResultStore
from routeweave.evals.replay.cli import replay
from routeweave.evals.replay.recorded import load_recorded
from routeweave.evals.replay.report import to_markdown
from routeweave.evals.replay.reprice import reprice
from routeweave.evals.routing.sweep import sweep_policy
from routeweave.policies import get_policy
from routeweave.serving import Engine, Pool
from routeweave.ui.cli import main as routeweave_main
from support.stub_openai import StubServer

QUESTIONS = ["When was the Eiffel Tower finished?", "Who designed the Venetian Macao casino?",
             "Between Harvey Pekar and Denise Levertov who was born earlier?", "What is the capital of Peru?"]


def price(i: float, o: float) -> dict:
    return {"input_per_m": i, "output_per_m": o}


def r1_pool(stub: StubServer) -> dict:
    """The router asks Broken, which fails over to Backup (another price): fallbacks and router tokens."""
    return {
        "router": {"model": "openai/router:Broken", "api_base": stub.api_base, "grammar": False, "price": price(0.1, 0.3)},
        "experts": [
            {"name": "Broken", "model": "openai/500", "api_base": stub.api_base, "description": "fails",
             "fallbacks": ["Backup"], "price": price(1.0, 2.0)},
            {"name": "Backup", "model": "openai/ok:the tower was finished in 1889", "api_base": stub.api_base,
             "description": "takes over", "enabled": False, "price": price(5.0, 7.0)},
        ],
        "limits": {"budget_usd": 0.05, "max_rounds": 2},
        "reliability": {"num_retries": 0, "allowed_fails": 1000, "cooldown_s": 0},
    }


def qa_pool(stub: StubServer) -> dict:
    """Two answering experts: Cheap is right about towers, Strong about bridges."""
    return {
        "router": {"model": "openai/ok", "api_base": stub.api_base, "grammar": False, "price": price(0.1, 0.1)},
        "experts": [
            {"name": "Cheap", "model": "openai/ok:1889", "api_base": stub.api_base, "description": "cheap",
             "price": price(0.2, 0.4)},
            {"name": "Strong", "model": "openai/ok:1900", "api_base": stub.api_base,
             "description": "strong", "price": price(3.0, 15.0)},
        ],
        "limits": {"budget_usd": 0.05, "max_rounds": 2},
        "reliability": {"num_retries": 0},
    }


def scaled(pool: dict, k: float) -> dict:
    out = copy.deepcopy(pool)
    for who in [out["router"], *out["experts"]]:
        who["price"] = {key: v * k for key, v in who["price"].items()}
    return out


def toml(pool: dict) -> str:
    """Just enough TOML for these pools (tables, arrays of tables, inline price tables)."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)
    lines = []
    for section in ("router", "limits", "reliability"):
        lines += [f"[{section}]", *(f"{k} = {value(v)}" for k, v in pool[section].items())]
    for e in pool["experts"]:
        lines += ["[[experts]]", *(f"{k} = {value(v)}" for k, v in e.items())]
    return "\n".join(lines) + "\n"


def examples(dataset: str, n: int) -> list[Example]:
    """Towers (1889) and bridges (1900), alternating, so which expert is right depends on the words."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(Example(id=f"{dataset}{i}", question=f"When was the {['iron', 'stone', 'glass', 'radio', 'water', 'clock'][i // 2 % 6]} tower number {i} built?",
                               answers=["1889"], dataset=dataset))
        else:
            out.append(Example(id=f"{dataset}{i}", question=f"When did the suspension bridge over river {i} open to traffic?",
                               answers=["1900"], dataset=dataset))
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Router-R1 sessions (one shaped by the budget) and eval qa runs of each expert, recorded for real."""
    tmp = tmp_path_factory.mktemp("replay")
    traces, results = tmp / "traces.db", tmp / "evals.db"
    with StubServer() as stub:
        r1, qa = r1_pool(stub), qa_pool(stub)
        sessions = []
        with Engine(Pool.model_validate(r1), db_path=traces, cache_dir=tmp / "cache") as engine:
            graph = engine.graph("router-r1")
            for q in QUESTIONS:
                sessions.append(graph.invoke({"question": q})["session_id"])
            shaped = graph.invoke({"question": QUESTIONS[0], "budget_usd": 0.0003})
            sessions.append(shaped["session_id"])
        with ResultStore(results) as store:
            for expert in ("Cheap", "Strong"):
                pool = Pool.model_validate(qa).with_enabled([expert])
                with Engine(pool, db_path=traces, cache_dir=tmp / "cache") as engine:
                    for split, n in (("train", 16), ("test", 12)):
                        run = f"{expert.lower()}-{split}"
                        store.open_run(run, {"graph": "single-shot", "experts": [expert], "datasets": [split]}, total=n)
                        asyncio.run(run_examples(engine.graph("single-shot"), examples(split, n), store=store, run=run,
                                                 progress=False, trace_db=str(traces)))
    for name, pool in (("r1", r1), ("qa", qa), ("r1x2", scaled(r1, 2.0)), ("qax2", scaled(qa, 2.0))):
        (tmp / f"{name}.toml").write_text(toml(pool))
    lacking = copy.deepcopy(r1)
    lacking["experts"] = [{**lacking["experts"][0], "fallbacks": []}]
    (tmp / "no-backup.toml").write_text(toml(lacking))
    return {"tmp": tmp, "traces": traces, "results": results, "sessions": sessions, "shaped": shaped, "r1": r1, "qa": qa}


def test_the_recording_has_router_tokens_fallbacks_and_a_budget_stop(recorded):
    """The sessions the other tests replay are what they claim to be (else the exactness tests prove little)."""
    steps = [s for r in load_recorded(recorded["sessions"], trace_db=recorded["traces"]) for s in r.steps]
    assert any(s["kind"] == "think" and s["answered_by"] == "router" and s["cost_usd"] > 0 for s in steps)
    backup = [s for s in steps if s["kind"] == "route" and s["answered_by"] == "Backup"]
    assert len(backup) >= len(QUESTIONS) and all(s["expert"] == "Broken" and s["cost_usd"] > 0 for s in backup)
    assert len({s["prompt_tokens"] for s in steps if s["kind"] == "think"}) > 1  # token counts differ per call
    assert any(s["error"] and s["error"].startswith("not called") for s in recorded["shaped"]["steps"])


def test_the_own_pool_reproduces_every_recorded_cost_exactly(recorded):
    pool = Pool.model_validate(recorded["r1"])
    for rec in load_recorded(recorded["sessions"], trace_db=recorded["traces"]):
        again = reprice(rec, pool)
        assert again.cost_usd == rec.cost_usd > 0
    report = replay(recorded["sessions"], recorded["tmp"] / "r1.toml", trace_db=recorded["traces"])
    assert report["cost_usd_replayed"] == report["cost_usd_recorded"] > 0
    assert report["sessions"] == len(QUESTIONS) + 1 and report["unknown"]["steps"] == 0
    runs = replay(["cheap-test", "strong-test"], recorded["tmp"] / "qa.toml", trace_db=recorded["traces"])
    assert runs["cost_usd_replayed"] == runs["cost_usd_recorded"] > 0 and runs["sessions"] == 24


def test_doubled_prices_double_the_cost(recorded):
    for ids, pool in ((recorded["sessions"], "r1x2"), (["cheap-test", "strong-test"], "qax2")):
        report = replay(ids, recorded["tmp"] / f"{pool}.toml", trace_db=recorded["traces"])
        assert report["cost_usd_replayed"] == 2 * report["cost_usd_recorded"] > 0


def test_router_paths_are_re_priced_not_re_decided_and_budget_shaped_sessions_flagged(recorded, capsys):
    argv = ["replay", *recorded["sessions"], "--pool", str(recorded["tmp"] / "r1x2.toml"), "--db", str(recorded["traces"])]
    assert routeweave_main([*argv, "--json", "--markdown", str(recorded["tmp"] / "replay.md")]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert set(report) >= {"sessions", "cost_usd_recorded", "cost_usd_replayed", "quality_recorded", "quality_replayed",
                           "unknown", "budget_shaped", "datasets"}
    assert report["router_decided"] == len(QUESTIONS) + 1
    assert report["budget_shaped"] == 1 and report["budget_shaped_sessions"] == [recorded["shaped"]["session_id"]]
    markdown = (recorded["tmp"] / "replay.md").read_text()
    assert "re-priced, not re-decided" in markdown and "shaped by the budget" in markdown
    assert "| (sessions) | 5 |" in markdown and "2.000×" in markdown


def test_a_pool_without_an_expert_the_recording_used_reports_its_steps_unknown(recorded):
    report = replay(recorded["sessions"], recorded["tmp"] / "no-backup.toml", trace_db=recorded["traces"])
    steps = [s for r in load_recorded(recorded["sessions"], trace_db=recorded["traces"]) for s in r.steps]
    backup = [s for s in steps if s["answered_by"] == "Backup"]
    unknown = report["unknown"]
    assert unknown["steps"] == len(backup) > 0 and unknown["by_expert"] == {"Backup": len(backup)}
    at_backup = sum(s["cost_usd"] for s in backup)
    assert unknown["cost_usd_recorded"] == pytest.approx(at_backup) and at_backup > 0  # reported, not priced at zero
    assert report["cost_usd_replayed"] is None  # the total is not a silent under-count
    others = sum(s["cost_usd"] for s in steps if s["answered_by"] != "Backup")  # the same prices for the rest
    assert report["cost_usd_replayed_known"] == pytest.approx(others) and others > 0
    assert any("Backup ×" in n for n in report["notes"])


def test_unknown_steps_leave_the_recorded_quality_whole(recorded, tmp_path):
    """Re-pricing alone changes no path: the quality is every session's, even when some steps are unknown."""
    strong_only = copy.deepcopy(recorded["qa"])
    strong_only["experts"] = [e for e in strong_only["experts"] if e["name"] == "Strong"]
    (tmp_path / "strong-only.toml").write_text(toml(strong_only))
    report = replay(["cheap-test", "strong-test"], tmp_path / "strong-only.toml", trace_db=recorded["traces"])
    assert report["unknown"]["by_expert"] == {"Cheap": 12} and report["cost_usd_replayed"] is None
    assert report["quality_replayed"] == report["quality_recorded"] is not None
    markdown = to_markdown(report, ids=["cheap-test", "strong-test"])
    assert " of 24)" not in markdown and f"| {report['quality_recorded']:.3f} | {report['quality_recorded']:.3f} |" in markdown
    assert "12 step(s) could not be priced (Cheap ×12: not in the pool), recorded at" in markdown  # said once


def test_json_output_has_no_binary_float_noise(recorded, capsys):
    """At doubled prices the sums are 0.0019055999999999997 in binary; --json prints 0.0019056."""
    argv = ["replay", "cheap-test", "strong-test", "--pool", str(recorded["tmp"] / "qax2.toml"), "--db", str(recorded["traces"])]
    assert routeweave_main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\d\.\d{13,}", out), out[:500]
    exact = replay(["cheap-test", "strong-test"], recorded["tmp"] / "qax2.toml", trace_db=recorded["traces"])
    assert exact["cost_usd_replayed"] > 0
    assert json.loads(out)["cost_usd_replayed"] == pytest.approx(exact["cost_usd_replayed"], rel=1e-11)


def test_a_policy_replayed_over_an_outcome_table_gives_eval_routings_numbers(recorded, tmp_path):
    with ResultStore(recorded["results"]) as store:
        pool = Pool.model_validate(recorded["qa"])
        train, _ = outcome_table(store, ["cheap-train", "strong-train"], pool)
        test, _ = outcome_table(store, ["cheap-test", "strong-test"], pool)
    swept = sweep_policy("knn", train, test, options={"k": 3})  # `eval routing --opt knn.k=3`
    at_default_knob = next(p for p in swept["points"] if p["knob"] == 0.0)
    get_policy("knn", k=3).fit(train).save(tmp_path / "knn")
    report = replay(["cheap-test", "strong-test"], recorded["tmp"] / "qa.toml", policy=str(tmp_path / "knn"),
                    trace_db=recorded["traces"])
    p = report["policy"]
    assert p["questions"] == p["scored"] == len(test) and p["unknown"] == 0
    assert set(p["choices"]) == {"Cheap", "Strong"}  # it really chose, per question
    assert p["quality"] == pytest.approx(at_default_knob["quality"], abs=1e-12)
    assert p["cost_usd_per_question"] == pytest.approx(at_default_knob["cost"], rel=1e-12)
    # the top-level columns describe one thing, knn's paths on the recorded sessions (each question twice)
    assert report["quality_replayed"] == pytest.approx(p["quality"]) and p["quality"] > report["quality_recorded"]
    assert report["cost_usd_replayed"] == pytest.approx(2 * p["cost_usd"]) and report["sessions"] == 2 * len(test)
    assert report["cost_usd_repriced"] == report["cost_usd_recorded"]  # (knn halves the questions each way: equal)


def test_a_choice_without_a_recorded_outcome_is_unknown_and_named(recorded, tmp_path):
    """Only Strong's runs replayed: knn's choices of Cheap have no outcome."""
    with ResultStore(recorded["results"]) as store:
        train, _ = outcome_table(store, ["cheap-train", "strong-train"], Pool.model_validate(recorded["qa"]))
    get_policy("knn", k=3).fit(train).save(tmp_path / "knn")
    report = replay(["strong-test"], recorded["tmp"] / "qa.toml", policy=str(tmp_path / "knn"), trace_db=recorded["traces"])
    p = report["policy"]
    assert p["unknown"] == p["choices"]["Cheap"] > 0 and p["scored"] == p["choices"]["Strong"] > 0
    assert report["unknown"]["questions_by_expert"] == {"Cheap": p["unknown"]}
    assert report["cost_usd_replayed"] is None and report["sessions_replayed_known"] == p["scored"]
    markdown = to_markdown(report, ids=["strong-test"], policy="knn")
    assert "| recorded paths at new prices | `knn`'s paths |" in markdown
    assert f"({p['scored']} of {report['sessions']})" in markdown and "unknown for" in markdown
    assert report["cost_usd_replayed_known"] == pytest.approx(p["cost_usd"])


def test_a_policy_fitted_for_other_experts_is_refused_naming_both_lists(recorded, tmp_path):
    with ResultStore(recorded["results"]) as store:
        table, _ = outcome_table(store, ["cheap-train", "strong-train"], Pool.model_validate(recorded["qa"]))
    table.models = ["Cheap", "Other"]
    get_policy("knn").fit(table).save(tmp_path / "other")
    cmd = [sys.executable, "-m", "routeweave.ui.cli", "replay", "cheap-test", "--pool", str(recorded["tmp"] / "qa.toml"),
           "--policy", str(tmp_path / "other"), "--db", str(recorded["traces"])]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "fitted for the experts Cheap, Other, but the pool enables Cheap, Strong" in done.stderr


def test_an_unknown_id_is_a_clear_error(recorded, capsys):
    code = routeweave_main(["replay", "nope", "--pool", str(recorded["tmp"] / "qa.toml"), "--db", str(recorded["traces"])])
    err = capsys.readouterr().err
    assert code == 2 and "'nope' is neither an eval qa run" in err and "cheap-test" in err and "nor a session" in err
    missing = routeweave_main(["replay", "nope", "--pool", str(recorded["tmp"] / "qa.toml"),
                               "--db", str(recorded["tmp"] / "absent" / "t.db")])
    assert missing == 2 and "(no such database)" in capsys.readouterr().err
    assert not (recorded["tmp"] / "absent").exists()  # reading never creates a database


def test_steps_that_do_not_record_who_answered_are_unknown_not_guessed(recorded, tmp_path):
    """A trace written before routeweave stored `answered_by` (here: a real one, with the column emptied):
    its billed steps are unknown by expert, with their recorded cost; guessing would miss the fallbacks."""
    import shutil
    import sqlite3

    old = tmp_path / "old.db"
    shutil.copy(recorded["traces"], old)
    for suffix in ("-wal", "-shm"):
        if Path(f"{recorded['traces']}{suffix}").exists():
            shutil.copy(f"{recorded['traces']}{suffix}", f"{old}{suffix}")
    with sqlite3.connect(old) as conn:
        conn.execute("update rw_steps set answered_by = null")
    report = replay(recorded["sessions"][:1], recorded["tmp"] / "r1.toml", trace_db=old)
    steps = load_recorded(recorded["sessions"][:1], trace_db=old)[0].steps
    billed = [s for s in steps if s["cost_usd"] > 0]
    assert report["unknown"]["steps"] == len(billed) > 0 and report["cost_usd_replayed"] is None
    assert report["unknown"]["by_expert"] == dict(Counter(s["expert"] for s in billed))
    assert report["unknown"]["cost_usd_recorded"] == pytest.approx(report["cost_usd_recorded"])


def test_a_verifier_is_replayed_as_the_cascade_runs_it(recorded, tmp_path):
    """The verifier judges each recorded answer of the first expert; an escalation pays both calls and the
    answer kept is scored. Fitted where Strong is always right, so Cheap's answers are the ones judged."""
    with ResultStore(recorded["results"]) as store:
        pool = Pool.model_validate(recorded["qa"])
        train, _ = outcome_table(store, ["cheap-train", "strong-train"], pool)
        test, _ = outcome_table(store, ["cheap-test", "strong-test"], pool)
    assert set(test.responses) == {"Cheap", "Strong"}  # the runs' answers came with the outcomes
    train.quality[:, train.models.index("Strong")] = 1.0
    cheap, strong = test.models.index("Cheap"), test.models.index("Strong")
    for knob, kept, quality, cost in [(0.0, "Cheap", test.quality[:, cheap].mean(), test.cost[:, cheap].mean()),
                                      (1.0 + 1e-9, "Strong", test.quality[:, strong].mean(), test.cost.sum(axis=1).mean())]:
        get_policy("verifier", knob=knob).fit(train).save(tmp_path / f"v{knob}")
        report = replay(["cheap-test", "strong-test"], recorded["tmp"] / "qa.toml", policy=str(tmp_path / f"v{knob}"),
                        trace_db=recorded["traces"])
        p = report["policy"]
        assert p["questions"] == p["scored"] == len(test) and p["unknown"] == 0 and p["choices"] == {kept: len(test)}
        assert p["quality"] == pytest.approx(quality, abs=1e-12)
        assert p["cost_usd_per_question"] == pytest.approx(cost, rel=1e-12)  # escalated: Cheap's call paid too
