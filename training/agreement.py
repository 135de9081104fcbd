"""Does the exported GGUF adapter compute what the trained PEFT model computes?

At fixed positions of fixed texts, compare the top-1 next token of llama.cpp (the shipped Q4_1 base
plus the GGUF adapter, applied per request) with transformers + PEFT (dequantised base). Also the mean
absolute gap between the two log-probabilities of the reference top-1 token, and the same agreement
with the adapter switched off (scale 0), which shows the adapter really changes the predictions."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Agreement:
    positions: int
    top1_agreement: float
    mean_abs_logprob_gap: float
    top1_agreement_adapter_off: float
    changed_by_adapter: float  # share of positions whose PEFT top-1 differs from the base model's
    llama_without_probability: int = 0  # positions where llama.cpp sent no top-1 (counted as disagreements)
    # the same comparison without any adapter (llama.cpp Q4_1 vs the dequantised base): what quantisation and
    # this CPU's kernels alone cost, the ceiling an exported adapter can be held to
    base_agreement: float = float("nan")

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def positions(token_lists: list[list[int]], n: int, *, min_prefix: int = 8) -> list[list[int]]:
    """n prefixes spread evenly over the texts' positions (deterministic)."""
    spots = [(i, j) for i, ids in enumerate(token_lists) for j in range(min_prefix, len(ids))]
    if len(spots) < n:
        raise ValueError(f"only {len(spots)} positions in the texts, {n} wanted")
    step = len(spots) / n
    return [token_lists[i][:j] for i, j in (spots[int(k * step)] for k in range(n))]


def _llama_top1(base_url: str, prefix: list[int], scale: float) -> tuple[int | None, float]:
    body = {"prompt": prefix, "n_predict": 1, "n_probs": 1, "temperature": 0.0, "cache_prompt": True,
            "post_sampling_probs": False, "lora": [{"id": 0, "scale": scale}]}
    req = urllib.request.Request(f"{base_url}/completion", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        out = json.loads(resp.read())
    probs = out.get("completion_probabilities") or []
    if not probs or not probs[0].get("top_logprobs"):
        if "error" in out:
            raise RuntimeError(f"llama.cpp refused a {len(prefix)}-token prefix: {json.dumps(out['error'])[:300]}")
        return None, float("nan")  # no probabilities sent for this token (counted as a disagreement)
    top = probs[0]["top_logprobs"][0]
    return int(top["id"]), float(top["logprob"])


def measure(peft_model, prefixes: list[list[int]], gguf: str, adapter: Path) -> Agreement:
    """Start a llama.cpp server with the adapter loaded but not applied, then compare per prefix."""
    import torch

    from .serve_check import adapter_server

    # A causal model's logits at position j of a text are those of its prefix of length j + 1: one forward
    # pass per longest sequence (with and without the adapter) serves every prefix of it.
    longest = [p for p in prefixes if not any(len(q) > len(p) and q[:len(p)] == p for q in prefixes)]
    ref: list[tuple[int, float, int]] = []
    with torch.no_grad():
        passes = {}
        for seq in longest:
            ids = torch.tensor([seq])
            with peft_model.disable_adapter():
                base = peft_model(input_ids=ids).logits[0].argmax(-1)
            passes[tuple(seq)] = (torch.log_softmax(peft_model(input_ids=ids).logits[0].float(), -1), base)
        for prefix in prefixes:
            seq = next(s for s in passes if list(s[:len(prefix)]) == prefix)
            logps, base = passes[seq]
            logp = logps[len(prefix) - 1]
            top = int(logp.argmax())
            ref.append((top, float(logp[top]), int(base[len(prefix) - 1])))
    agree = agree_off = agree_base = missing = 0
    gaps = []
    # Prefixes come in text order, so with the prompt cache each request computes only the tokens the
    # previous one did not; all requests with the adapter first, then all without (llama.cpp drops the
    # cache when the adapter scale changes).
    with adapter_server(gguf, adapter) as base_url:
        for prefix, (top, lp, _) in zip(prefixes, ref):
            got, got_lp = _llama_top1(base_url, prefix, 1.0)
            missing += got is None
            agree += got == top
            if got == top:
                gaps.append(abs(got_lp - lp))
        for prefix, (top, _, base_top) in zip(prefixes, ref):
            got_off = _llama_top1(base_url, prefix, 0.0)[0]
            agree_off += got_off == top
            agree_base += got_off == base_top
    n = len(prefixes)
    return Agreement(
        positions=n, top1_agreement=agree / n,
        mean_abs_logprob_gap=sum(gaps) / len(gaps) if gaps else float("nan"),
        top1_agreement_adapter_off=agree_off / n, base_agreement=agree_base / n,
        changed_by_adapter=sum(t != b for t, _, b in ref) / n, llama_without_probability=missing,
    )
