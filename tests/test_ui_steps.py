"""The UI's step rendering and the service's model names and per-session inputs (no server, no browser)."""

from __future__ import annotations

import re

import pytest

from routeweave.graphs import make_step
from routeweave.graphs.metering import NOT_AFFORDABLE
from routeweave.graphs.router_r1.experts import ASKED_BEFORE
from routeweave.ui.render import render_result, render_step
from routeweave.ui.steps import answer_message, step_line, step_message, totals_html, usd

KINDS = ["guard", "decide", "think", "route", "answer", "notice", "fallback"]


@pytest.mark.parametrize("value, text", [
    (0, "$0"), (0.000284, "$0.000284"), (1.4e-05, "$0.000014"), (2.5999999999999995e-05, "$0.000026"),
    (0.005, "$0.005"), (0.01, "$0.01"), (1.0, "$1"), (12.3456, "$12.3456"), (0.00012345, "$0.000123"),
    (0.0002598, "$0.00026"), (0.0009996, "$0.001"),  # rounded, as ask prints $0.000260: never truncated
])
def test_usd_is_readable(value, text):
    assert usd(value) == text


@pytest.mark.parametrize("kind", KINDS)
def test_every_step_kind_renders(kind):
    step = make_step(kind, 1, expert="Wiki", query="Harvey Pekar birth date", reply="<b>1939</b>", text="a <script>x</script>",
                     prompt_tokens=300, completion_tokens=20, cost_usd=3.2e-05, latency_s=1.25)
    line = step_line(step)
    assert line.startswith(f"r1 {kind}:") and "320 tok · $0.000032 · 1.25s" in line and "\n" not in line
    message = step_message(step, 3)
    assert message["role"] == "assistant" and message["metadata"]["status"] == "done"
    assert message["metadata"]["title"].startswith("r1 · ") and message["metadata"]["log"] == "320 tok · $0.000032 · 1.25s"
    assert "<script>" not in message["content"] and "<b>" not in message["content"]  # model text is shown as text


def test_route_step_names_expert_question_and_failure():
    ok = make_step("route", 2, expert="Wiki", query="Who?", reply="Him.")
    assert step_message(ok, 0)["metadata"]["title"] == "r2 · → Ask Wiki: Who?"
    assert "**Reply:** Him." in step_message(ok, 0)["content"]
    failed = make_step("route", 2, expert="Wiki", query="Who?", error="timeout")
    assert "(failed)" in step_message(failed, 0)["metadata"]["title"] and "failed: timeout" in step_line(failed)
    assert "**Failed:** timeout" in step_message(failed, 0)["content"] and "failed: timeout" in render_step(failed)
    for why in (ASKED_BEFORE, NOT_AFFORDABLE):  # a call the graph chose not to make is not a failure
        skipped = make_step("route", 2, expert="Wiki", query="Who?", error=why)
        assert step_message(skipped, 0)["metadata"]["title"] == "r2 · → Ask Wiki: Who? (not called)"
        assert "failed" not in (step_line(skipped) + render_step(skipped) + step_message(skipped, 0)["content"]).lower()
        assert why in step_line(skipped) and why in " ".join(render_step(skipped).split())
    assert "log" not in step_message(make_step("notice", 1, text="hm"), 0)["metadata"]  # nothing metered, no meter


def test_totals_and_answer():
    steps = [make_step("think", 0, prompt_tokens=100, completion_tokens=10, cost_usd=0.001),
             make_step("route", 1, expert="A", prompt_tokens=5, completion_tokens=5, cost_usd=0.004)]
    card = totals_html(None, 0.01, steps, running=True)
    assert "$0.005" in card and "of $0.01 budget" in card and "width:50.0%" in card and "1 expert call<" in card
    assert "running" in card
    result = {"answer": "1939 <i>", "cost_usd": 0.005, "prompt_tokens": 105, "completion_tokens": 15, "expert_calls": 1,
              "rounds": 1, "stop_reason": "answered", "session_id": "abc", "steps": steps}
    assert "abc" in totals_html(result, 0.01) and "answered" in totals_html(result, 0.01)
    message = answer_message(result, 0.01)
    assert message["content"].startswith("1939 &lt;i&gt;") and "120 tokens · 1 expert call · 1 round · answered" in message["content"]


def test_the_cli_result_line_shows_a_tiny_budget_instead_of_rounding_it_to_zero():
    result = {"answer": "x", "cost_usd": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "expert_calls": 0,
              "rounds": 0, "stop_reason": "budget", "session_id": "s"}
    assert "of $0.0000001 ·" in render_result(result, budget_usd=1e-7)
    assert "of $0.005 ·" in render_result(result, budget_usd=0.005)


def test_a_failing_session_is_said_in_the_chat_with_its_stored_session(tmp_path, caplog):
    """Fault injection: a session that raises something other than a settings error (a full disk, a bug of
    ours) once showed Gradio's bare "Error" badge and lost the question; the chat now says what failed and
    where its stored steps are, and the server's log has the traceback."""
    import asyncio

    from routeweave.serving import Service
    from routeweave.ui.chat_app import build_ui
    from support.serve import write_mock_pool

    service = Service(write_mock_pool(tmp_path), db_path=tmp_path / "rw.db")  # not started: the graph is faked

    class Failing:
        def new_session_id(self) -> str:
            return "0123456789abcdef" * 2

        async def astream(self, inputs, *, session_id):
            yield {"type": "step", "step": make_step("think", round=0, text="look it up")}
            raise OSError(28, "No space left on device")

    service.graph = lambda model_id: Failing()
    run = next(f.fn for f in build_ui(service).fns.values() if getattr(f.fn, "__name__", "") == "run")

    async def drive():
        return [out async for out in run("When was the Eiffel Tower finished?", [], "routeweave-r1", None, 2, ["Mock"])]

    outputs = asyncio.run(drive())
    said = outputs[-1][0][-1]["content"]
    assert "The session failed: OSError" in said and "No space left on device" in said
    assert re.search(r"routeweave resume [0-9a-f]{32}", said)  # the stored steps are named, to finish or read
    assert outputs[-1][0][0]["content"] == "When was the Eiffel Tower finished?"  # the question is kept
    assert "chat session failed" in caplog.text and "Traceback" in caplog.text
