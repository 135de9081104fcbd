"""Token ids and labels of a trajectory: loss on the router's own tokens only.

The conversation is rendered by the tokenizer's chat template (the one in the GGUF, which llama.cpp
serves too) and tokenised as one string, as the server does; a token is a label when its characters
lie inside an assistant message's content or its closing <|im_end|>. The system prompt, the question,
every <information> block and status line, and the role headers are masked (-100)."""

from __future__ import annotations

from .base import TrainingError
from .records import Trajectory

IGNORE = -100


def _spans(text: str, messages: list[dict]) -> list[tuple[int, int]]:
    """Character spans of each assistant content (+ its end-of-turn marker) in the rendered text."""
    spans, at = [], 0
    for m in messages:
        found = text.find(m["content"], at) if m["content"] else at
        if found < 0:
            raise TrainingError("the chat template changed a message's text; cannot locate it to mask the prompt")
        end = found + len(m["content"])
        if m["role"] == "assistant":
            eot = text.find("<|im_end|>", end)
            spans.append((found, eot + len("<|im_end|>") if eot == end else end))
        at = end
    return spans


def encode(tokenizer, trajectory: Trajectory, *, max_length: int = 2048) -> dict[str, list[int]]:
    messages = [m.model_dump() for m in trajectory.messages]
    if messages[-1]["role"] != "assistant":
        raise TrainingError(f"trajectory {trajectory.id}: field 'messages' must end with the router's (assistant) turn")
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = _spans(text, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, labels = enc["input_ids"], []
    for tok, (a, b) in zip(ids, enc["offset_mapping"]):
        inside = any(s <= a and b <= e and b > a for s, e in spans)
        labels.append(tok if inside else IGNORE)
    if len(ids) > max_length:
        raise TrainingError(f"trajectory {trajectory.id} has {len(ids)} tokens, more than max_length {max_length}")
    return {"input_ids": ids, "labels": labels}


def labelled_text(tokenizer, encoded: dict[str, list[int]]) -> str:
    """The labelled tokens decoded (for tests and inspection)."""
    return tokenizer.decode([t for t, lab in zip(encoded["input_ids"], encoded["labels"]) if lab != IGNORE])
