"""Prometheus metrics of a running service (`GET /metrics`, prometheus_client's text format).

    routeweave_requests_total{model,status}              chat-completion requests, by served model and HTTP status
    routeweave_sessions_total{graph,stop_reason}         finished sessions
    routeweave_tokens_total{expert,kind}                 prompt / completion tokens, by who was called ("router" too)
    routeweave_cost_usd_total{expert}                    dollars, by who was called
    routeweave_session_latency_seconds{graph}            wall time of a session (histogram)
    routeweave_call_latency_seconds{expert}              one model or expert call (histogram)
    routeweave_budget_refusals_total{graph}              calls not made because the budget could not cover them
    routeweave_overload_rejections_total                 requests refused with 429 (--max-sessions)
    routeweave_sessions_in_flight                        sessions running now

`serve --workers N` sets PROMETHEUS_MULTIPROC_DIR for its workers before they import prometheus_client:
each worker then writes its samples to that folder and `/metrics` on any worker sums them all."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..agents.records import EMPTY_REPLY
from ..graphs.metering import NOT_AFFORDABLE
from ..graphs.state import status_word

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
CALL_KINDS = {"think", "route", "read", "answer"}  # steps that record one call (answer: the direct graph's)

REGISTRY = CollectorRegistry()
REQUESTS = Counter("routeweave_requests", "Chat-completion requests by served model and HTTP status",
                   ["model", "status"], registry=REGISTRY)
SESSIONS = Counter("routeweave_sessions", "Finished sessions by graph and stop reason", ["graph", "stop_reason"],
                   registry=REGISTRY)
TOKENS = Counter("routeweave_tokens", "Tokens by who was called (router or expert) and kind (prompt, completion)",
                 ["expert", "kind"], registry=REGISTRY)
COST = Counter("routeweave_cost_usd", "Dollars by who was called (at the pool's prices)", ["expert"], registry=REGISTRY)
SESSION_LATENCY = Histogram("routeweave_session_latency_seconds", "Wall time of a session", ["graph"], buckets=BUCKETS,
                            registry=REGISTRY)
CALL_LATENCY = Histogram("routeweave_call_latency_seconds", "Latency of one model or expert call", ["expert"],
                         buckets=BUCKETS, registry=REGISTRY)
CALL_ERRORS = Counter("routeweave_call_errors", "Model or expert calls that failed (error: failed) or answered with "
                      "nothing (error: empty), by who was called; the session may still have answered, by a fallback",
                      ["expert", "error"], registry=REGISTRY)
BUDGET_REFUSALS = Counter("routeweave_budget_refusals", "Calls not made because the session's budget could not cover them",
                          ["graph"], registry=REGISTRY)
OVERLOAD = Counter("routeweave_overload_rejections", "Requests refused with 429 because --max-sessions were running",
                   registry=REGISTRY)
IN_FLIGHT = Gauge("routeweave_sessions_in_flight", "Sessions running now", registry=REGISTRY, multiprocess_mode="livesum")


def observe_session(graph: str, result: dict[str, Any], wall_s: float) -> None:
    """Count one finished session: its stop reason, every call's tokens, dollars and latency, budget refusals."""
    SESSIONS.labels(graph, str(result.get("stop_reason"))).inc()
    SESSION_LATENCY.labels(graph).observe(wall_s)
    refused = 0
    for step in result.get("steps", []):
        if step["error"] == NOT_AFFORDABLE:
            refused += 1
            continue
        who = step["expert"] or "none"
        if step["prompt_tokens"] or step["completion_tokens"]:
            TOKENS.labels(who, "prompt").inc(step["prompt_tokens"])
            TOKENS.labels(who, "completion").inc(step["completion_tokens"])
        if step["cost_usd"]:
            COST.labels(who).inc(step["cost_usd"])
        if step["kind"] in CALL_KINDS and step["latency_s"]:
            CALL_LATENCY.labels(who).observe(step["latency_s"])
        if step["kind"] in CALL_KINDS and status_word(step) == "failed":
            CALL_ERRORS.labels(who, "empty" if step["error"] == EMPTY_REPLY else "failed").inc()
    if not refused and result.get("stop_reason") == "budget":  # the router's own turn could not be paid for
        refused = 1
    if refused:
        BUDGET_REFUSALS.labels(graph).inc(refused)


def count_request(model: str, status: int) -> None:
    REQUESTS.labels(model, str(status)).inc()


def count_overload() -> None:
    OVERLOAD.inc()


def render() -> tuple[bytes, str]:
    """The exposition text and its content type: this process's metrics, or every worker's under --workers."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
