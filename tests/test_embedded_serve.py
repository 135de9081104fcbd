"""`routeweave serve` and `routeweave chat` on the real embedded default (llama.cpp serving SmolLM2 in the
process, the BM25 retriever): the unchanged openai client gets answers with real token usage, and the chat
UI, driven in Debian's Chromium, shows a real routed answer with its route and cost."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import openai
import pytest

from support.serve import ServeProcess

pytestmark = [pytest.mark.server, pytest.mark.slow]
QUESTION = "Between Harvey Pekar and Denise Levertov who was born earlier?"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with ServeProcess(tmp_path_factory.mktemp("embedded-serve"), pool="embedded", args=["--no-ui"]) as proc:
        yield proc


def test_serve_answers_with_real_models_and_real_usage(served):
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0, timeout=300)
    direct = client.chat.completions.create(model="routeweave-direct", messages=[{"role": "user", "content": QUESTION}])
    assert direct.choices[0].message.content.strip() and direct.usage.completion_tokens > 0
    r1 = client.chat.completions.create(model="routeweave-r1", messages=[{"role": "user", "content": QUESTION}],
                                        extra_body={"routeweave": {"max_rounds": 1, "include_steps": True}})
    rw = r1.model_extra["routeweave"]
    assert r1.choices[0].message.content.strip() and rw["stop_reason"] in {"answered", "budget", "unparseable"}
    think = [s for s in rw["steps"] if s["kind"] == "think"]
    assert think and all(s["prompt_tokens"] > 100 and s["cost_usd"] > 0 for s in think)  # the real router was metered
    assert r1.usage.total_tokens == sum(s["prompt_tokens"] + s["completion_tokens"] for s in rw["steps"])


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"), reason="no /usr/bin/chromium (CI installs it)")
def test_chat_shows_a_real_routed_answer(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_ui_browser import ARGS

    with ServeProcess(tmp_path, pool="embedded", command="chat") as proc, sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=str(CHROMIUM),
                                                       headless=True, args=ARGS, viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.goto(proc.url + "/")
            page.wait_for_selector("#rw-question textarea", timeout=60_000)
            page.locator("#rw-model input").fill("routeweave-direct")
            page.keyboard.press("Enter")
            page.fill("#rw-question textarea", QUESTION)
            page.click("#rw-ask")
            page.locator("#rw-totals").get_by_text("answered").wait_for(timeout=240_000)
            assert QUESTION in page.locator("#rw-asked").inner_text()
            chat = page.locator("#rw-chat").inner_text()
            assert " tok" in chat and "$0.0000" in chat  # the real call's meter
            page.screenshot(path=str(tmp_path / "embedded-chat.png"), full_page=True)
        finally:
            context.close()
            shutil.rmtree(tmp_path / "profile", ignore_errors=True)
