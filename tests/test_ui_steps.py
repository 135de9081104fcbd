"""The UI's step rendering and the service's model names and per-session inputs (no server, no browser)."""

from __future__ import annotations

import pytest

from routeweave.graphs.state import make_step
from routeweave.ui.steps import answer_message, step_line, step_message, totals_html, usd

KINDS = ["guard", "decide", "think", "route", "answer", "notice", "fallback"]


@pytest.mark.parametrize("value, text", [
    (0, "$0"), (0.000284, "$0.000284"), (1.4e-05, "$0.000014"), (2.5999999999999995e-05, "$0.000026"),
    (0.005, "$0.005"), (0.01, "$0.01"), (1.0, "$1"), (12.3456, "$12.3456"), (0.00012345, "$0.000123"),
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
    assert "(failed)" in step_message(failed, 0)["metadata"]["title"] and "timeout" in step_line(failed)
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


def test_model_names_cover_every_graph_and_policy():
    from routeweave.graphs.registry import graph_names
    from routeweave.policies import policy_names
    from routeweave.ui.service import model_specs

    specs = model_specs()
    assert specs["routeweave-r1"].graph == "router-r1"
    assert {s.graph for s in specs.values()} == set(graph_names())
    for policy in policy_names(include_eval_only=False):
        assert f"routeweave-{policy}" in specs
    assert specs["routeweave-knn"].graph == "single-shot" and specs["routeweave-knn"].policy == "knn"
    assert specs["routeweave-cascade"].graph == "cascade"  # the graph keeps a name a policy also has


def test_session_inputs(tmp_path):
    from routeweave.ui.service import Service
    from routeweave.ui.testing import write_mock_pool

    service = Service(write_mock_pool(tmp_path), db_path=tmp_path / "rw.db", cache_dir=tmp_path)  # not started
    assert service.expert_names() == ["Mock", "Pricey"]
    inputs = service.session_inputs("q", budget_usd=0.5, experts=["mock", "Pricey"])
    assert inputs["budget_usd"] == 0.5 and "constraints" not in inputs  # all enabled: no constraint
    assert service.session_inputs("q", experts=["pricey"])["constraints"] == {"allowed": ["Pricey"]}
    with pytest.raises(ValueError, match="unknown or disabled"):
        service.session_inputs("q", experts=["Nobody"])
    with pytest.raises(ValueError, match="at least one"):
        service.session_inputs("q", experts=[])
