"""The Gradio chat UI: each answer shows its route while it happens.

Every step (think, policy decision, expert call, notice, answer) is a collapsible message titled with what
happened and metered with its tokens, dollars and latency; a card beside the chat shows the session's
spend against its budget. Controls: model (graph or policy), budget, max rounds, enabled experts. Past
sessions are read back from the trace store (SQLite) and any session exports as JSON.

It runs over the same Service (one Engine) as the HTTP API: mounted at /ui by `routeweave serve`, or alone
by `routeweave chat`."""

from __future__ import annotations

import html
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from ..serving import DEFAULT_MODEL, Service, SessionCaps  # noqa: E402
from .steps import answer_message, step_message, totals_html, usd  # noqa: E402

log = logging.getLogger("routeweave.ui")

CSS = """
.gradio-container { max-width: 1240px !important; margin: auto; }
#rw-header h1 { font-size: 1.5rem; margin: 0; letter-spacing: -0.01em; }
#rw-header p { margin: 2px 0 0; opacity: 0.7; }
.rw-totals { border: 1px solid var(--border-color-primary); border-radius: 12px; padding: 14px 16px;
             background: var(--block-background-fill); }
.rw-spend { font-size: 0.95rem; opacity: 0.85; }
.rw-big { font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; opacity: 1; margin-right: 4px; }
.rw-bar { height: 8px; border-radius: 4px; background: var(--neutral-200); margin: 10px 0 8px; overflow: hidden; }
.dark .rw-bar { background: var(--neutral-700); }
.rw-fill { height: 100%; background: linear-gradient(90deg, #10b981, #f59e0b); border-radius: 4px; }
.rw-stats { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 0.85rem; opacity: 0.8;
            font-variant-numeric: tabular-nums; }
.rw-status { margin-left: auto; font-weight: 600; }
.rw-fill-over { background: #dc2626 !important; }
.rw-over { color: #dc2626; font-weight: 600; font-size: 0.85rem; margin-bottom: 6px; }
.rw-session { margin-top: 8px; font-size: 0.75rem; opacity: 0.6; word-break: break-all; }
#rw-chat .message-wrap { font-size: 0.95rem; }
.rw-asked { font-size: 1.05rem; font-weight: 600; padding: 10px 14px; border-radius: 10px;
            background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.rw-asked-empty { font-weight: 400; opacity: 0.6; }
.rw-q { display: inline-block; margin-right: 10px; padding: 0 7px; border-radius: 6px; color: white;
        background: #10b981; font-size: 0.85rem; }
"""

# plain symbols only (steps.ICONS): machines without an emoji font draw an emoji as an empty box
PENDING_TITLE = "◌ Working…"

# Keeps the newest output in view. Gradio's own autoscroll follows only when the pane is within 100 px of its
# bottom after an update, so the update that adds a question and its pending step (more than 100 px) left the
# pane behind, still showing the previous session. This follows every update of the chat until the user
# scrolls up themselves (wheel, touch, keys, scrollbar), and again once they are back at the bottom or ask a
# new question (`ask`). Scroll events alone cannot tell the user's scrolling from the pane growing under a
# programmatic scroll, so only reaching the bottom is read from them.
FOLLOW_JS = """(ask) => {
  const st = window.rwChatFollow || (window.rwChatFollow = {follow: true, box: null});
  const root = document.getElementById("rw-chat");
  if (!root) return;
  if (!st.box || !root.contains(st.box)) {
    const box = [...root.querySelectorAll("*")].find(e => /auto|scroll/.test(getComputedStyle(e).overflowY));
    if (!box) return;
    st.box = box;
    const stop = () => { st.follow = false; };
    box.addEventListener("scroll", () => {
      if (box.scrollHeight - box.scrollTop - box.clientHeight < 32) st.follow = true; });
    box.addEventListener("wheel", (e) => { if (e.deltaY < 0) stop(); }, {passive: true});
    box.addEventListener("touchmove", stop, {passive: true});
    box.addEventListener("keydown", (e) => { if (["ArrowUp", "PageUp", "Home"].includes(e.key)) stop(); });
    box.addEventListener("mousedown", (e) => { if (e.target === box) stop(); });  // on its scrollbar
  }
  if (ask === true) st.follow = true;
  const box = st.box;
  if (!st.follow) return;
  const bottom = () => { if (st.follow && box.isConnected) box.scrollTop = box.scrollHeight; };
  bottom();
  requestAnimationFrame(bottom);
  for (const ms of [80, 300, 700]) setTimeout(bottom, ms);
}"""

HEADER = """<div id="rw-header"><h1>routeweave</h1>
<p>A small router model asks expert models sub-questions within a budget. Every step shows who was asked
what, what it said, and what it cost.</p></div>"""


def asked_html(question: str | None) -> str:
    if not question:
        return '<div class="rw-asked rw-asked-empty">Ask a question below: its route appears here, step by step.</div>'
    return f'<div class="rw-asked"><span class="rw-q">Q</span>{html.escape(question.strip())}</div>'


def _session_label(row: dict[str, Any]) -> str:
    """question · graph/policy · cost · start time: one question asked on different routes reads apart."""
    question = " ".join((row.get("question") or "").split())
    question = question if len(question) <= 60 else question[:59] + "…"
    policy = (row.get("meta") or {}).get("policy")
    route = (row.get("graph") or "unknown graph") + (f"/{policy}" if policy else "")
    started = time.strftime("%b %d %H:%M:%S", time.localtime(row["started"])) if row.get("started") else "not started"
    return f"{question} · {route} · {usd(row.get('cost_usd'))} · {started}"


def _session_choices(service: Service, limit: int = 30) -> list[tuple[str, str]]:
    return [(_session_label(row), row["session_id"]) for row in service.traces.recent(limit)]


def _check_settings(budget_usd: float | None, enabled: list[str], cap: float) -> None:
    """The settings the form cannot rule out, refused with what to change (before SessionCaps' generic wording)."""
    if budget_usd is not None and not budget_usd > 0:  # 0, negative or NaN
        raise ValueError(f"The budget must be above $0: enter at most {usd(cap)} under Route settings → Budget, "
                         "or clear the field to use the pool's budget.")
    if not enabled:
        raise ValueError("No expert is enabled: tick at least one under Route settings → Experts enabled.")


def _failure(exc: BaseException, session_id: str | None) -> str:
    """What the chat says when a session fails for a reason the user did not cause (the traceback is logged)."""
    stored = (f" The steps above are stored: `routeweave trace {session_id}` shows them, `routeweave resume "
              f"{session_id}` finishes the session." if session_id else "")
    return f"The session failed: {type(exc).__name__}: {exc}.{stored} The server's log has the details."


def _notice(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": f"⚠ {html.escape(text)}"}


def _export(session: dict[str, Any]) -> str:
    folder = Path(tempfile.gettempdir()) / "routeweave-exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"routeweave-{re.sub(r'[^A-Za-z0-9_-]', '', session['session_id'])}.json"
    path.write_text(json.dumps(session, indent=2), encoding="utf-8")
    return str(path)


def _session_view(session: dict[str, Any], budget_usd: float) -> list[dict[str, Any]]:
    steps = session.get("steps") or []
    result = {**session, "prompt_tokens": session.get("prompt_tokens") or 0, "completion_tokens": session.get("completion_tokens") or 0,
              "cost_usd": session.get("cost_usd") or 0.0, "rounds": session.get("rounds") or 0}
    messages = [{"role": "user", "content": html.escape(session.get("question") or "")}]
    messages += [step_message(s, i) for i, s in enumerate(steps)]
    messages.append(answer_message(result, budget_usd))
    return messages


def build_ui(service: Service) -> gr.Blocks:
    pool = service.pool
    experts = service.expert_names()
    models = [m.id for m in service.models.values()]

    with gr.Blocks(title="routeweave") as ui:
        current = gr.State(None)  # the shown session's id
        gr.HTML(HEADER)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                asked = gr.HTML(asked_html(None), elem_id="rw-asked")  # the question stays above its route
                chat = gr.Chatbot(elem_id="rw-chat", height=640, show_label=False, layout="panel",
                                  placeholder="Ask a question: the route, its replies and costs appear here as they happen.",
                                  group_consecutive_messages=True, buttons=[])
                with gr.Row():
                    question = gr.Textbox(elem_id="rw-question", show_label=False, scale=5, autofocus=True,
                                          placeholder="e.g. Between Harvey Pekar and Denise Levertov who was born earlier?")
                    ask = gr.Button("Ask", variant="primary", elem_id="rw-ask", scale=1, min_width=90)
            with gr.Column(scale=2, min_width=300):
                totals = gr.HTML(totals_html(None, pool.limits.budget_usd), elem_id="rw-totals")
                export = gr.DownloadButton("Export this trace (JSON)", size="sm", interactive=False, elem_id="rw-export")
                with gr.Accordion("Route settings", open=True):
                    model = gr.Dropdown(models, value=DEFAULT_MODEL, label="Graph or policy", elem_id="rw-model",
                                        info="routeweave-r1: the router loop; routeweave-<policy>: one expert picked by a policy")
                    # no minimum/maximum: Gradio would refuse an out-of-range value with bare "Error" badges over
                    # the whole page; run() lowers a budget above the cap (and says so) and refuses one of $0 or less
                    budget = gr.Number(value=pool.limits.budget_usd, label=f"Budget, USD (at most {usd(pool.limits.budget_usd)})",
                                       step=0.0005, elem_id="rw-budget")
                    rounds = gr.Slider(1, pool.limits.max_rounds, value=pool.limits.max_rounds, step=1, label="Max rounds",
                                       elem_id="rw-rounds")
                    chosen = gr.CheckboxGroup(experts, value=experts, label="Experts enabled", elem_id="rw-experts")
                with gr.Accordion("Past sessions", open=False):
                    past = gr.Dropdown(_session_choices(service), label="Stored sessions (newest first)", value=None,
                                       elem_id="rw-past")
                    refresh = gr.Button("Refresh list", size="sm")

        async def run(text: str, history: list, model_id: str, budget_usd, max_rounds, enabled: list[str]):
            text = (text or "").strip()
            history = list(history or [])
            if not text:
                yield history, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            # an empty field means the pool's budget; 0 is not "no cap" but a budget nothing fits: refused below
            budget_usd = None if budget_usd in (None, "") else float(budget_usd)
            cap = pool.limits.budget_usd if budget_usd is None else min(budget_usd, pool.limits.budget_usd)
            history.append({"role": "user", "content": html.escape(text)})
            session_id, steps = None, []  # the id is known here, so a failure can name what it stored
            try:
                _check_settings(budget_usd, list(enabled or []), pool.limits.budget_usd)
                if budget_usd is not None and budget_usd > pool.limits.budget_usd:  # lowered, never raised: said
                    history.append(_notice(f"Budget lowered to the pool's cap {usd(cap)} (you asked for {usd(budget_usd)}); "
                                           "the session runs at the cap."))
                caps = SessionCaps.parse({"budget_usd": budget_usd,
                                          "max_rounds": int(max_rounds), "experts": list(enabled or [])})
                caps.constraints(service.pool)
                inputs = service.session_inputs(text, caps)
                graph = service.graph(model_id)
                session_id = graph.new_session_id()
                pending = {"role": "assistant", "content": "", "metadata": {"title": PENDING_TITLE, "status": "pending"}}
                yield history + [pending], totals_html(None, cap, steps, running=True), "", gr.skip(), gr.skip(), gr.skip()
                async for event in graph.astream(inputs, session_id=session_id):
                    if event["type"] == "step":
                        steps.append(event["step"])
                        history.append(step_message(event["step"], len(steps) - 1))
                        yield history + [pending], totals_html(None, cap, steps, running=True), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    else:
                        result = event
                history.append(answer_message(result, cap))
                session = service.traces.get(result["session_id"]) or result
                yield (history, totals_html(result, cap), gr.skip(), result["session_id"],
                       gr.DownloadButton(value=_export(session), interactive=True),
                       gr.Dropdown(choices=_session_choices(service), value=None))
            except (ValueError, KeyError) as exc:
                history.append(_notice(str(exc)))
                yield history, totals_html(None, max(cap, 0.0)), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            except Exception as exc:  # noqa: BLE001 - a fault of ours or the machine's: said in the chat, not
                # as Gradio's bare "Error" badge, with the traceback in the server's log
                log.exception("chat session failed")
                history.append(_notice(_failure(exc, session_id if steps else None)))
                yield history, totals_html(None, max(cap, 0.0)), gr.skip(), gr.skip(), gr.skip(), gr.skip()

        outputs = [chat, totals, question, current, export, past]
        for trigger in (ask.click, question.submit):
            trigger(None, None, None, js="() => (" + FOLLOW_JS + ")(true)")  # a new question: follow its route
            trigger(lambda text: asked_html(text) if (text or "").strip() else gr.skip(), [question], [asked]).then(
                run, [question, chat, model, budget, rounds, chosen], outputs)

        def show(session_id: str | None):
            if not session_id:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            session = service.traces.get(session_id)
            if session is None:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            cap = (session.get("meta") or {}).get("limits", {}) or {}
            cap = cap.get("budget_usd") or pool.limits.budget_usd
            return (_session_view(session, cap), totals_html(session, cap), session_id, asked_html(session.get("question")),
                    gr.DownloadButton(value=_export(session), interactive=True))

        chat.change(None, None, None, js=FOLLOW_JS)

        def clear():  # the chat's trash button: the cards beside it showed the cleared session, clear them too
            return (asked_html(None), totals_html(None, pool.limits.budget_usd), None,
                    gr.DownloadButton(value=None, interactive=False), gr.Dropdown(value=None))

        chat.clear(clear, None, [asked, totals, current, export, past])

        past.change(show, [past], [chat, totals, current, asked, export])
        refresh.click(lambda: gr.Dropdown(choices=_session_choices(service)), None, [past])
    return ui


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="emerald", neutral_hue="slate",
                          font=["ui-sans-serif", "system-ui", "sans-serif"],  # local fonts: no network
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def mount_ui(app, service: Service, *, path: str = "/ui", api_key: str | None = None):
    """Mount the UI on a FastAPI app. With an API key configured, the UI asks for it (any user name)."""
    import hmac

    auth = (lambda _user, password: hmac.compare_digest(str(password).encode(), api_key.encode())) if api_key else None
    return gr.mount_gradio_app(app, build_ui(service), path=path, auth=auth, theme=theme(), css=CSS,
                               footer_links=[], ssr_mode=False, mcp_server=False)
