"""One contract over every registered expert kind (agents/experts/): its example entry loads in a pool file,
the client says up front the most a call may cost, a call is metered within that, the router's prompt
lists it with its price, and the single-shot graph gets an answer from it (an evidence kind through its
reader). Then the `python` kind's own promises: sync and async functions, options, declared price, and
every way a tool can fail reported as the call's error, never the session's."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import threading
import tomllib

import pytest
from pydantic import Field, create_model

import routeweave.agents.experts as registry
from routeweave.agents.bm25 import format_passages, open_retriever
from routeweave.agents.errors import ConfigError
from routeweave.agents.experts import ExpertKind, expert_kinds, settings_union
from routeweave.agents.pool import Pool, PoolError, load_pool
from routeweave.agents.runtime import Runtime
from routeweave.graphs.router_r1.prompt import system_prompt
from routeweave.serving import Engine

ROUTER = {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "grammar": False,
          "mock_response": "<think>t</think><answer>Bram Stoker</answer>", "price": {"input_per_m": 0.1, "output_per_m": 0.1}}


def pool_with(*experts: dict, model: type[Pool] = Pool, **extra) -> Pool:
    return model.model_validate({"router": ROUTER, "experts": list(experts), "limits": {"budget_usd": 0.01}, **extra})


def test_every_kind_is_registered_once_with_a_working_example():
    kinds = expert_kinds()
    assert {"llm", "retrieval", "python"} <= set(kinds)
    for name, kind in kinds.items():
        assert kind.name == name and kind.summary and kind.example["name"]


def check_contract(kind: ExpertKind, tmp_path, model: type[Pool] = Pool) -> None:
    pool = pool_with(kind.example, model=model)
    expert = pool.experts[0]
    assert expert.kind == kind.name and type(expert) is kind.settings
    assert f"- {expert.name} ({expert.price_label()}): {expert.description}" in system_prompt(
        [expert], budget_usd=0.01, max_rounds=2)
    query = kind.contract_query  # what this kind answers: "Who wrote Dracula?" unless the kind says otherwise
    runtime = Runtime(pool, cache_dir=tmp_path).start()
    try:
        client = runtime.experts[expert.name]
        cost = client.reservation(query)
        assert cost.usd >= 0 and cost.tokens >= 0
        record = asyncio.run(client.ask(query, question=query))  # every kind takes `question`
        assert record.error is None, f"the {kind.name} kind's example failed its contract_query {query!r}: {record.error}"
        assert record.text.strip() and record.who == expert.name
        assert record.cost_usd <= cost.usd + 1e-12 and record.tokens <= cost.tokens  # the reservation is the most it costs
    finally:
        runtime.close()
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("single-shot", "cheapest").invoke({"question": query})
    assert result["stop_reason"] == "answered" and result["answer"].strip()
    kinds = [s["kind"] for s in result["steps"]]
    assert kinds == (["decide", "route", "answer"] if expert.answers else ["decide", "route", "read", "answer"])


@pytest.mark.parametrize("kind", sorted(expert_kinds()))
def test_kind_contract(kind, tmp_path):
    check_contract(expert_kinds()[kind], tmp_path)


def recipe() -> tuple[str, str]:
    """The kind module and the pool entry that agents/experts/__init__.py's docstring tells a contributor to write
    (its blocks indented by four spaces)."""
    blocks, lines = [], []
    for line in [*registry.__doc__.splitlines(), "end"]:
        if line.startswith("    ") or (lines and not line.strip()):
            lines.append(line)
        elif lines:
            blocks.append(textwrap.dedent("\n".join(lines)).strip() + "\n")
            lines = []
    return (next(b for b in blocks if "KIND = ExpertKind(" in b), next(b for b in blocks if b.startswith("[[experts]]")))


@pytest.fixture
def recipe_kind(tmp_path):
    """The docstring's kind, written to a temporary folder of the experts package and registered (with llm only,
    so that a real kind of the same name does not clash); a pool model whose union has it."""
    module, entry = recipe()
    folder = tmp_path / "kinds"
    folder.mkdir()
    (folder / "recipe_kind.py").write_text(module)
    importlib.invalidate_caches()
    saved = registry.KIND_MODULES
    registry.__path__.append(str(folder))
    registry.KIND_MODULES = ("llm", "recipe_kind")
    expert_kinds.cache_clear()
    try:
        kind = next(k for k in expert_kinds().values() if k.name != "llm")
        model = create_model("RecipePool", __base__=Pool, experts=(list[settings_union()], Field(..., min_length=1)))
        yield kind, model, tomllib.loads(entry)["experts"][0]
    finally:
        registry.KIND_MODULES = saved
        registry.__path__.remove(str(folder))
        sys.modules.pop(f"{registry.__name__}.recipe_kind", None)
        expert_kinds.cache_clear()


def test_the_registry_docstring_is_a_working_recipe_for_a_kind(recipe_kind, tmp_path):
    """Its module registers, the [[experts]] entry it shows loads in a pool, and the contract test it names passes."""
    kind, model, entry = recipe_kind
    expert = pool_with(entry, model=model).experts[0]
    assert type(expert) is kind.settings and expert.kind == kind.name == entry["kind"]
    assert "test_kind_contract" in registry.__doc__ and "KIND_MODULES" in registry.__doc__
    check_contract(kind, tmp_path, model)


def test_the_contract_asks_a_kind_its_own_contract_query(recipe_kind, tmp_path):
    """A calculator rightly fails on "Who wrote Dracula?": the contract asks it the `contract_query` it declares."""
    kind, model, _ = recipe_kind
    assert kind.contract_query != ExpertKind.contract_query == "Who wrote Dracula?"
    runtime = Runtime(pool_with(kind.example, model=model), cache_dir=tmp_path).start()
    try:
        assert asyncio.run(runtime.experts[kind.example["name"]].ask("Who wrote Dracula?")).error
    finally:
        runtime.close()
    check_contract(kind, tmp_path, model)


@pytest.mark.parametrize("rank", [False, True])
def test_router_r1_hands_the_question_to_a_retriever_that_ranks_by_it(rank, tmp_path):
    # Training question 5a7d1c525542995ed0d165f2; the router searches a bare name, as the trained one did.
    router = {**ROUTER, "mock_response": "<think>t</think><search>Wiki: The Island</search>"}
    wiki = {"name": "Wiki", "kind": "retrieval", "corpus": "builtin:hotpotqa", "top_k": 1, "description": "search",
            "rank_by_question": rank}
    question = "Where is the host of the American survival skills reality show, The Island, originally from?"
    pool = Pool.model_validate({"router": router, "experts": [wiki], "limits": {"budget_usd": 0.01, "max_rounds": 1}})
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("router-r1").invoke({"question": question})
    replies = [s["reply"] for s in result["steps"] if s["kind"] == "route"]
    assert replies and replies[0].startswith("(1) The Island (U.S. TV series):" if rank else "(1) Rose Island, Bahamas:")


@pytest.mark.parametrize("view", [{"top_k": 3}, {"top_k": 3, "passage_chars": 120, "reply_chars": 260}])
def test_the_router_reads_what_the_retrievers_view_settings_show(view, tmp_path):
    """`top_k` passages, each cut to `passage_chars`, the reply cut to `reply_chars` in the router's <information>
    (defaults: 400 and 700); the trace keeps the expert's whole reply."""
    router = {**ROUTER, "mock_response": "<think>t</think><search>Wiki: Harvey Pekar</search>"}
    wiki = {"name": "Wiki", "kind": "retrieval", "corpus": "builtin:hotpotqa", "top_k": 2, "description": "search", **view}
    pool = Pool.model_validate({"router": router, "experts": [wiki], "limits": {"budget_usd": 0.01, "max_rounds": 1}})
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        graph = engine.graph("router-r1")
        result = graph.invoke({"question": "When was Harvey Pekar born?"})
        state = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": result["session_id"]}})).values
    reply = next(s["reply"] for s in result["steps"] if s["kind"] == "route")
    found = open_retriever("builtin:hotpotqa", tmp_path).search("Harvey Pekar", view.get("top_k", 2))
    assert reply == format_passages(found, max_chars=view.get("passage_chars", 400))
    shown = next(m["content"] for m in state["messages"] if m["role"] == "user" and "<information>" in m["content"])
    cut = view.get("reply_chars", 700)
    assert len(reply) > cut and reply[:cut] in shown and reply[:cut + 1] not in shown


def test_unknown_kind_is_refused_with_the_known_ones(tmp_path):
    path = tmp_path / "pool.toml"
    path.write_text('[router]\nmodel = "openai/x"\n[[experts]]\nname = "Q"\nkind = "sql"\ndescription = "d"\n')
    with pytest.raises(PoolError, match="field 'kind': unknown kind 'sql'; known kinds: llm, retrieval, python"):
        load_pool(path)


def test_a_field_of_another_kind_is_refused_naming_the_kind(tmp_path):
    path = tmp_path / "pool.toml"
    path.write_text('[router]\nmodel = "openai/x"\n[[experts]]\nname = "Wiki"\nkind = "retrieval"\n'
                    'corpus = "builtin:hotpotqa"\nmodel = "openai/y"\ndescription = "d"\n')
    with pytest.raises(PoolError, match="expert 'Wiki'.*field 'model': unknown field: not a field of a 'retrieval' expert"):
        load_pool(path)


def test_pool_files_of_0_1_still_load(tmp_path):
    """`kind` left out means llm; a retriever's all-zero price (as 0.1's embedded pool wrote it) is accepted."""
    path = tmp_path / "pool.toml"
    path.write_text('[router]\nmodel = "openai/x"\n[[experts]]\nname = "Big"\nmodel = "openai/y"\ndescription = "d"\n'
                    '[[experts]]\nname = "Wiki"\nkind = "retrieval"\ncorpus = "builtin:hotpotqa"\ndescription = "w"\n'
                    'price = { input_per_m = 0.0, output_per_m = 0.0 }\n')
    pool = load_pool(path)
    assert [e.kind for e in pool.experts] == ["llm", "retrieval"]
    zero = path.read_text()
    for bad in ("output_per_m = 1.0 }", "output_per_m = [1] }", 'output_per_m = "x" }'):  # never a traceback
        path.write_text(zero.replace("output_per_m = 0.0 }", bad))
        with pytest.raises(PoolError, match="is free: remove its 'price'"):
            load_pool(path)


# -- the python kind -----------------------------------------------------------------------------------


def ask_python(tmp_path, **fields):
    entry = {"name": "Tool", "kind": "python", "description": "a tool", **fields}
    runtime = Runtime(pool_with(entry), cache_dir=tmp_path).start()
    try:
        return asyncio.run(runtime.experts["Tool"].ask("who wrote dracula?"))
    finally:
        runtime.close()


def test_python_sync_and_async_functions_with_options_and_declared_price(tmp_path):
    sync = ask_python(tmp_path, function="support.tools:shout", options={"suffix": "?!"}, price_per_call_usd=0.002)
    assert sync.text == "WHO WROTE DRACULA??!" and sync.cost_usd == 0.002 and sync.error is None
    coro = ask_python(tmp_path, function="support.tools:slow_echo", options={"delay": 0.01})
    assert coro.text == "echo: who wrote dracula?" and coro.cost_usd == 0


@pytest.mark.parametrize("function, fields, error", [
    ("support.tools:broken", {}, "RuntimeError: the tool broke"),
    ("support.tools:number", {}, "returned int, not str"),
    ("support.tools:slow_echo", {"options": {"delay": 5}, "timeout": 0.2}, "timed out after 0.2s"),
    ("support.tools:shout", {"options": {"nope": 1}}, "TypeError"),
])
def test_python_failures_are_the_calls_error(tmp_path, function, fields, error):
    record = ask_python(tmp_path, function=function, price_per_call_usd=0.001, **fields)
    assert error in (record.error or "") and record.text == ""
    assert record.cost_usd == 0.001  # a call that ran was paid for


def test_hung_sync_tools_keep_their_own_threads_and_slots_never_the_shared_ones(tmp_path):
    """40 calls of a tool that hangs, past their timeout: each fails as timed out, the threads searches and
    other experts share (asyncio's default executor: at most 32 threads) still run at once, and the tool's
    own slots (concurrency = 2) make calls beyond them wait and time out rather than start more threads."""
    entry = {"name": "Tool", "kind": "python", "description": "hangs", "function": "support.tools:hang",
             "options": {"seconds": 20}, "timeout": 0.3, "concurrency": 2}
    runtime = Runtime(pool_with(entry), cache_dir=tmp_path).start()

    async def scenario():
        tool = runtime.experts["Tool"]
        records = await asyncio.gather(*(tool.ask(f"q{i}") for i in range(40)))
        shared = await asyncio.wait_for(asyncio.gather(*(asyncio.to_thread(lambda: "ok") for _ in range(8))), 2.0)
        return records, shared

    try:
        before = threading.active_count()
        records, shared = asyncio.run(scenario())
        assert all(r.error == "timed out after 0.3s" for r in records) and shared == ["ok"] * 8
        assert threading.active_count() - before <= 2 + 8  # the tool's two hung threads (and the shared pool's)
    finally:
        runtime.close()


def test_python_function_that_cannot_be_imported_is_a_config_error_naming_the_expert(tmp_path):
    with pytest.raises(ConfigError, match="expert 'Tool': cannot import module 'no_such_module'"):
        ask_python(tmp_path, function="no_such_module:f")
    with pytest.raises(ConfigError, match="expert 'Tool': module 'support.tools' has no function 'nope'"):
        ask_python(tmp_path, function="support.tools:nope")


def test_python_evidence_is_read_by_the_router_in_single_shot(tmp_path):
    pool = pool_with({"name": "Notes", "kind": "python", "function": "support.tools:passages", "returns": "evidence",
                      "description": "my notes"})
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("single-shot").invoke({"question": "Who wrote Dracula?"})
    read = next(s for s in result["steps"] if s["kind"] == "read")
    assert read["expert"] == "router" and read["text"] == "reads the reply of Notes" and read["cost_usd"] > 0
    assert result["answer"] == "<think>t</think><answer>Bram Stoker</answer>"  # the mocked reader's text, not the notes


@pytest.mark.parametrize("expert, says", [
    ('kind = "python"\nfunction = "nomodule_xyz:calc"', "cannot import module 'nomodule_xyz'"),
    ('kind = "retrieval"\ncorpus = "missing.jsonl"', "corpus file not found"),
], ids=["python", "retrieval"])
def test_what_an_expert_names_is_checked_before_any_model_server_starts(tmp_path, monkeypatch, expert, says):
    """A missing module or corpus used to be found after llama.cpp had started (and, under
    ROUTEWEAVE_CPU=wait, after waiting for the cores)."""
    from routeweave.agents.local_server import ServerFleet
    from routeweave.serving import ConfigError, Engine

    started = []
    monkeypatch.setattr(ServerFleet, "start", lambda self: started.append(self) or self)
    pool = tmp_path / "pool.toml"
    pool.write_text('[servers.local]\nthreads = 1\n\n[router]\nmodel = "openai/smollm2-135m"\nserver = "local"\n\n'
                    f'[[experts]]\nname = "Bad"\ndescription = "d"\n{expert}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"expert 'Bad'.*{says}"):
        Engine(str(pool), db_path=tmp_path / "t.db").start()
    assert not started
