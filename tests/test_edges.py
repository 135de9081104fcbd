"""`routed`: a node that says where to go next (LangGraph Command) instead of a conditional edge; pure logic.
The graphs' own runs (test_graph_kinds, test_checkpoint_compat) prove the routes end to end."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, TypedDict

from langgraph.graph import END
from langgraph.types import Send

from routeweave.graphs.edges import reduced_keys, routed


class State(TypedDict, total=False):
    question: str
    answer: str | None
    round: int
    steps: Annotated[list, operator.add]


def test_the_route_sees_the_update_and_unchanged_last_value_keys_are_left_out():
    async def node(state):
        return {"question": state["question"], "round": 2, "answer": "Paris", "steps": []}

    run = routed(node, lambda s: "end" if s.get("answer") else "again", {"end": END, "again": "node"},
                 reduced=reduced_keys(State))
    command = asyncio.run(run({"question": "capital?", "round": 1, "steps": [{"kind": "think"}]}))
    assert command.goto == END
    assert command.update == {"round": 2, "answer": "Paris", "steps": []}  # question unchanged: not written again


def test_sends_pass_through_and_a_key_never_written_is_written():
    async def node(state):
        return {"answer": None}

    sends = [Send("ask", {"n": 1}), Send("ask", {"n": 2})]
    command = asyncio.run(routed(node, lambda s: sends)({"question": "q"}))
    assert command.goto == sends and command.update == {"answer": None}


def test_reduced_keys_are_the_annotated_ones():
    assert reduced_keys(State) == {"steps"}
