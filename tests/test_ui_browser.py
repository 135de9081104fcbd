"""The chat UI in a real headless browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright,
against a real `routeweave serve` process with mocked models (no llama.cpp server, no browser download)."""

from __future__ import annotations

import json
import os
import shutil
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


def test_a_budget_of_zero_is_refused_in_the_chat_not_replaced_by_the_pools(served, page):
    page.goto(served.url + "/ui/")
    page.wait_for_selector("#rw-question textarea", timeout=60_000)
    page.fill("#rw-budget input", "0")
    page.fill("#rw-question textarea", "When was the Eiffel Tower finished?")
    page.click("#rw-ask")
    chat = page.locator("#rw-chat")
    chat.get_by_text("budget_usd", exact=False).first.wait_for(timeout=60_000)
    assert "greater than 0" in chat.inner_text()
    assert "March 1889" not in chat.inner_text()  # no session ran on the pool's budget instead
