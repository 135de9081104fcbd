"""The chat UI in a real headless browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright,
against a real `routeweave serve` process with mocked models (no llama.cpp server, no browser download)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from support.serve import ServeProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

pytestmark = [
    pytest.mark.browser,
    # CI installs Chromium (.ci/run) and sets CI: there a missing browser fails the test instead of skipping it
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="no /usr/bin/chromium: apt-get install chromium (CI's .ci/run does)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with ServeProcess(tmp_path_factory.mktemp("ui-serve")) as proc:
        yield proc


@pytest.fixture
def page(tmp_path):
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1400, "height": 1000}, accept_downloads=True,
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_ask_shows_the_route_the_answer_and_the_cost(served, page, tmp_path):
    page.goto(served.url + "/ui/")
    page.wait_for_selector("#rw-question textarea", timeout=60_000)
    page.fill("#rw-question textarea", "When was the Eiffel Tower finished?")
    page.click("#rw-ask")
    chat = page.locator("#rw-chat")
    # the answer, then its route: the router's thought and the expert call, with their meters
    chat.get_by_text("The Eiffel Tower was finished in March 1889.", exact=True).first.wait_for(timeout=60_000)
    # the question stays on screen above its route, however long the route grows
    asked = page.locator("#rw-asked")
    assert "When was the Eiffel Tower finished?" in asked.inner_text()
    asked_box, chat_box = asked.bounding_box(), chat.bounding_box()
    assert asked_box["y"] + asked_box["height"] <= chat_box["y"] + 1 and asked.is_visible()
    chat.get_by_text("Router thinks: I need the year the tower was finished.").first.wait_for()
    route = chat.get_by_text("Ask Mock: when was the Eiffel Tower finished?").first
    route.wait_for()
    assert "$0.0000" in chat.inner_text() and " tok" in chat.inner_text()
    # a step opens to show the sub-question and the expert's reply
    route.click()
    chat.get_by_text("Sub-question:").first.wait_for()
    # the session total against the budget
    totals = page.locator("#rw-totals")
    totals.get_by_text("of $0.01 budget").wait_for()
    assert "expert calls" in totals.inner_text() and "session" in totals.inner_text()
    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # the trace exports as JSON
    with page.expect_download() as download:
        page.click("#rw-export")
    exported = tmp_path / "trace.json"
    download.value.save_as(exported)
    trace = json.loads(exported.read_text())
    assert trace["question"] == "When was the Eiffel Tower finished?" and trace["steps"]
    assert any(s["kind"] == "route" and s["expert"] == "Mock" for s in trace["steps"])


def test_policy_and_experts_controls(served, page, tmp_path):
    page.goto(served.url + "/ui/")
    page.wait_for_selector("#rw-question textarea", timeout=60_000)
    page.locator("#rw-model input").fill("routeweave-cheapest")
    page.keyboard.press("Enter")
    page.locator("#rw-experts").get_by_text("Mock", exact=True).click()  # untick the cheap one
    page.fill("#rw-question textarea", "When was it finished?")
    page.click("#rw-ask")
    chat = page.locator("#rw-chat")
    chat.get_by_text("Policy picks Pricey").first.wait_for(timeout=60_000)
    chat.get_by_text("Ask Pricey: When was it finished?").first.wait_for()
    page.screenshot(path=str(tmp_path / "policy.png"), full_page=True)


@pytest.fixture
def shots(tmp_path, request) -> Path:
    """Where a test's screenshots go: $ROUTEWEAVE_UI_SHOTS/<test> to look at them after the run, else tmp_path."""
    folder = Path(os.environ["ROUTEWEAVE_UI_SHOTS"]) / request.node.name if os.environ.get("ROUTEWEAVE_UI_SHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_ui(served, page) -> None:
    page.goto(served.url + "/ui/")
    page.wait_for_selector("#rw-question textarea", timeout=60_000)


def ask(page, question: str, answers_before: int) -> None:
    """Ask and wait for the session's answer: its footer (a <sub>) is the chat's answers_before + 1st."""
    page.fill("#rw-question textarea", question)
    page.click("#rw-ask")
    page.locator("#rw-chat sub").nth(answers_before).wait_for(timeout=60_000)


def no_error_badges(page) -> None:
    """Gradio marks every output of a failed event with a bare "Error" badge (and a toast): none anywhere."""
    assert page.get_by_text("Error", exact=True).count() == 0, "Gradio error badges on the page"


def test_a_budget_above_the_cap_runs_at_the_cap_and_says_so(served, page, shots):
    open_ui(served, page)
    ask(page, "First question: when was the Eiffel Tower finished?", 0)
    page.fill("#rw-budget input", "1")  # the label says at most $0.01
    page.fill("#rw-rounds input[type=number]", "10")  # above the slider's maximum: its box clamps it, no error
    page.keyboard.press("Tab")
    assert page.locator("#rw-rounds input[type=number]").input_value() == "2"
    ask(page, "Second question: when was the Eiffel Tower finished?", 1)
    chat = page.locator("#rw-chat")
    chat.get_by_text("Budget lowered to the pool's cap $0.01 (you asked for $1)", exact=False).wait_for()
    page.screenshot(path=str(shots / "budget_above_cap.png"), full_page=True)
    no_error_badges(page)
    text = chat.inner_text()
    assert "First question" in text and "Second question" in text  # the chat history is kept
    assert text.count("The Eiffel Tower was finished in March 1889.") >= 2  # the session ran, at the cap
    assert "of $0.01 budget" in page.locator("#rw-totals").inner_text()
    assert "Second question" in page.locator("#rw-asked").inner_text()


@pytest.mark.parametrize("budget", ["0", "-1"])
def test_a_budget_of_zero_or_less_is_refused_with_advice_not_replaced_by_the_pools(served, page, shots, budget):
    open_ui(served, page)
    page.fill("#rw-budget input", budget)
    page.fill("#rw-question textarea", "When was the Eiffel Tower finished?")
    page.click("#rw-ask")
    chat = page.locator("#rw-chat")
    try:
        chat.get_by_text("The budget must be above $0", exact=False).first.wait_for(timeout=20_000)
    finally:
        page.screenshot(path=str(shots / "refused.png"), full_page=True)
    no_error_badges(page)
    text = chat.inner_text()
    assert "budget_usd" not in text and "validation" not in text  # advice, not the validator's wording
    assert "March 1889" not in text  # no session ran on the pool's budget instead


def test_no_expert_enabled_is_refused_with_advice(served, page, shots):
    open_ui(served, page)
    for name in ("Mock", "Pricey"):
        page.locator("#rw-experts").get_by_text(name, exact=True).click()
    page.fill("#rw-question textarea", "When was the Eiffel Tower finished?")
    page.click("#rw-ask")
    chat = page.locator("#rw-chat")
    chat.get_by_text("No expert is enabled: tick at least one", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(shots / "no_experts.png"), full_page=True)
    no_error_badges(page)
    assert "experts" not in chat.inner_text().replace("Experts enabled", "")  # no "'experts' list should have…"
    assert "March 1889" not in chat.inner_text()


# Whether an element's bottom is inside the chat's scrolling pane, and how far the pane is from its bottom.
IN_VIEW_JS = """(el) => {
  let box = el.parentElement;
  while (box && !/auto|scroll/.test(getComputedStyle(box).overflowY)) box = box.parentElement;
  const a = el.getBoundingClientRect(), b = box.getBoundingClientRect();
  return {visible: a.bottom <= b.bottom + 1 && a.top >= b.top - 1,
          from_bottom: Math.round(box.scrollHeight - box.scrollTop - box.clientHeight)};
}"""


@pytest.fixture(scope="module")
def served_slowly(tmp_path_factory):
    """`routeweave serve` whose expert is a real HTTP server answering after 0.7 s, as a real model does: the
    route arrives step by step, each update on its own (the mocked pool sends a whole route at once)."""
    from support.stub_openai import StubServer, write_stub_pool

    folder = tmp_path_factory.mktemp("ui-serve-slow")
    with StubServer() as stub:
        pool = write_stub_pool(folder / "slow-pool.toml", stub, router="router:Slow", experts={"Slow": "slow:0.7"},
                               tables="[limits]\nbudget_usd = 0.01\nmax_rounds = 2")
        with ServeProcess(folder, pool=pool) as proc:
            yield proc


def test_the_chat_follows_the_newest_session_question_after_question(served_slowly, page, shots):
    open_ui(served_slowly, page)
    for n in range(4):
        ask(page, f"Question {n + 1}: when was the Eiffel Tower finished?", n)
        latest = page.locator("#rw-chat sub").nth(n)  # the newest answer's footer
        deadline = time.monotonic() + 5
        while not (where := latest.evaluate(IN_VIEW_JS))["visible"] and time.monotonic() < deadline:
            time.sleep(0.1)
        page.screenshot(path=str(shots / f"follow_{n + 1}.png"), full_page=True)
        assert where["visible"], f"after question {n + 1} the newest answer is out of view: {where}"
        assert where["from_bottom"] < 50, where
    assert "Question 4" in page.locator("#rw-asked").inner_text()


def test_clear_empties_the_chat_and_the_cards_beside_it(served, page, shots):
    open_ui(served, page)
    ask(page, "When was the Eiffel Tower finished?", 0)
    assert "session" in page.locator("#rw-totals").inner_text()
    assert page.locator("#rw-export").is_enabled()
    page.locator("#rw-chat").get_by_role("button", name="Clear").click()
    page.locator("#rw-asked").get_by_text("Ask a question below", exact=False).wait_for(timeout=10_000)
    totals = page.locator("#rw-totals").inner_text()
    assert "$0 of $0.01 budget" in totals and "session" not in totals and "0 steps" in totals, totals
    assert page.locator("#rw-export").is_disabled()
    assert "March 1889" not in page.locator("#rw-chat").inner_text()
    page.screenshot(path=str(shots / "cleared.png"), full_page=True)
    no_error_badges(page)


# Draws one character in the chat's font on a canvas: a character no installed font has is drawn as the
# missing-glyph box (.notdef), the same pixels for every such character.
GLYPH_JS = """([chars, font]) => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const g = canvas.getContext("2d");
  const draw = (ch) => { g.clearRect(0, 0, 64, 64); g.font = `40px ${font}`; g.fillText(ch, 8, 48);
                         return g.getImageData(0, 0, 64, 64).data.join(","); };
  return chars.map(draw);
}"""


def test_the_working_title_and_step_icons_are_drawn_without_an_emoji_font(served, page):
    open_ui(served, page)
    # the pending step lasts as long as the mocked models take (milliseconds): record every title shown
    page.evaluate("""() => { window.rwTitles = new Set();
      new MutationObserver(() => document.querySelectorAll("#rw-chat button, #rw-chat span").forEach(
        (e) => { if (e.innerText && e.innerText.includes("Working")) window.rwTitles.add(e.innerText.trim()); }))
        .observe(document.getElementById("rw-chat"), {subtree: true, childList: true, characterData: true}); }""")
    ask(page, "When was the Eiffel Tower finished?", 0)
    titles = page.evaluate("() => [...window.rwTitles]")
    assert titles, "the pending 'Working' step was never shown"
    symbols = {t.split()[0] for t in titles}  # the title's leading symbol
    from routeweave.ui.steps import ICONS
    symbols |= set(ICONS.values())
    font = page.locator("#rw-chat").evaluate("(e) => getComputedStyle(e).fontFamily")
    missing_a, missing_b, *drawn = page.evaluate(GLYPH_JS, [["\ue000", "\ue001", *sorted(symbols)], font])
    assert missing_a == missing_b, "two missing characters draw differently: this check cannot tell a missing glyph"
    boxes = [s for s, pixels in zip(sorted(symbols), drawn) if pixels == missing_a]
    assert not boxes, f"drawn as empty boxes (no font has them): {boxes} in {titles}"


def test_past_sessions_name_their_graph_or_policy_and_time(served, page, shots):
    open_ui(served, page)
    question = "Past-list question: when was the Eiffel Tower finished?"
    ask(page, question, 0)
    page.locator("#rw-model input").click()  # pick the option itself: a typed value may not be committed yet
    page.locator("ul[role=listbox] li").filter(has_text="routeweave-cheapest").first.click()  # when Ask is clicked
    page.locator("#rw-header").click()
    assert page.locator("#rw-model input").input_value() == "routeweave-cheapest"
    ask(page, question, 1)
    page.get_by_text("Past sessions", exact=True).click()
    page.locator("#rw-past input").click()
    options = [t for t in page.locator("ul[role=listbox] li").all_inner_texts() if question[:40] in t]
    page.screenshot(path=str(shots / "past_sessions.png"), full_page=True)
    assert len(options) == 2, options
    assert len(set(options)) == 2, f"two sessions on different routes read the same: {options}"
    assert any("router-r1" in o for o in options) and any("cheapest" in o for o in options), options
    assert all(re.search(r"\d\d:\d\d:\d\d", o) for o in options), options  # when each ran
