"""GRPO rollouts through the real Router-R1 graph: the current policy's LoRA is exported as a GGUF
adapter, the embedded pool is started with it on the router (sampling at `temperature`), and every
sample is a real session: the graph's prompt, grammar, parser, budget and experts. What comes back is
the router's conversation as tokens, with a mask that is 1 on the router's own tokens and 0 on the
prompt's and experts' (<information>), and each session's reward parts."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from .masking import _spans
from .rejection import final_turn
from .reward import RewardParts, RewardSettings, score


@dataclass
class Sample:
    question: str
    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    parts: RewardParts
    answer: str
    cost_usd: float


def rollout_pool(base_pool, adapter: Path, temperature: float):
    """The pool with the router's adapter replaced by `adapter` and sampling turned on."""
    servers = dict(base_pool.servers)
    name = base_pool.router.server
    servers[name] = servers[name].model_copy(update={"adapters": {"router": str(adapter)}})
    # sampling under a grammar is slower than greedy decoding: give the router's calls room
    router = base_pool.router.model_copy(update={"adapter": "router", "temperature": temperature,
                                                 "timeout": max(base_pool.router.timeout, 600.0)})
    return base_pool.model_copy(update={"servers": servers, "router": router})


def vllm_rollout_pool(base_pool, model, work: Path, step: int, temperature: float):
    """GPU recipe: save the current LoRA in PEFT form and load it into the router's vLLM server (started
    with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) under a per-step name; the router's
    requests then name that adapter as their model. Not runnable on a CPU-only machine."""
    import json as _json
    import os
    import urllib.request

    name = f"router-step{step}"
    folder = work / "vllm-adapters" / name
    model.save_pretrained(str(folder))
    api_base = (base_pool.router.api_base or "").removesuffix("/v1")
    key = os.environ.get(base_pool.router.api_key_env or "", "")
    req = urllib.request.Request(f"{api_base}/v1/load_lora_adapter", method="POST",
                                 data=_json.dumps({"lora_name": name, "lora_path": str(folder.resolve())}).encode(),
                                 headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    urllib.request.urlopen(req, timeout=120).read()
    router = base_pool.router.model_copy(update={"model": f"hosted_vllm/{name}", "temperature": temperature})
    return base_pool.model_copy(update={"router": router})


def session_tokens(tokenizer, messages: list[dict]) -> tuple[list[int], list[int], list[int]]:
    """(prompt ids, completion ids, env mask): the prompt is the system + question turn and the
    assistant header; the completion is everything after, masked to the router's own text."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_text = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    if not text.startswith(prompt_text):
        raise ValueError("the chat template renders the first turns differently inside a longer conversation")
    spans = _spans(text, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    cut = next((i for i, (a, _) in enumerate(offsets) if a >= len(prompt_text)), len(ids))
    mask = [int(any(s <= a and b <= e and b > a for s, e in spans)) for a, b in offsets[cut:]]
    return ids[:cut], ids[cut:], mask


async def _one(graph, question: str) -> tuple[dict, list[dict]]:
    sid = uuid.uuid4().hex
    result = await graph.ainvoke({"question": question}, session_id=sid)
    state = await graph._loop.arun(graph.compiled.aget_state(graph._config(sid)))
    messages = [dict(role=m["role"], content=m["content"]) for m in (state.values.get("messages") or [])]
    final = final_turn(result.get("steps") or [])
    if final:
        messages.append({"role": "assistant", "content": final})
    return result, messages


def run_rollouts(pool, tokenizer, questions: list[str], answers: dict[str, list[str]], *, group: int,
                 reward: RewardSettings, work: Path, concurrency: int = 2) -> list[Sample]:
    """`group` sessions per question, in question order (TRL's layout: the group of a prompt is contiguous)."""
    from routeweave.serving import open_graph

    budget = pool.limits.budget_usd
    with open_graph(pool, db_path=work / "rollouts.db", cache_dir=work / "cache") as graph:
        async def run_all():
            sem = asyncio.Semaphore(concurrency)

            async def guarded(q):
                async with sem:
                    return await _one(graph, q)

            return await asyncio.gather(*(guarded(q) for q in questions for _ in range(group)))

        done = asyncio.run(run_all())
    out = []
    flat_questions = [q for q in questions for _ in range(group)]
    for q, (result, messages) in zip(flat_questions, done):
        p, c, m = session_tokens(tokenizer, messages)
        out.append(Sample(question=q, prompt_ids=p, completion_ids=c, env_mask=m,
                          parts=score(result, answers[q], budget, reward), answer=result.get("answer") or "",
                          cost_usd=float(result.get("cost_usd") or 0.0)))
    return out
