"""The Router-R1 text protocol: parse what the router wrote, and escape what others wrote.

The router writes `<think>...</think>` and then `<search>Expert: sub-question</search>` (one or more) or
`<answer>...</answer>`. Replies come back inside `<information>...</information>`.

`parse_turn` never raises: small models truncate, forget tags or invent experts, so it repairs what can
be repaired (a missing closing tag, a wrong case in a name) and otherwise returns a `TurnError` whose
message is sent back to the router. `escape` neutralises protocol tags in text from experts and users,
so that a reply cannot close `<information>` early or forge an `<answer>`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TAGS = ("think", "search", "answer", "information")
_TAG_RE = re.compile(r"<\s*(/?)\s*(" + "|".join(TAGS) + r")\b[^>]*>", re.IGNORECASE)
_BLOCK_RE = re.compile(r"<(search|answer)>(.*?)(?:</\1>|(?=<(?:search|answer|information|think)>)|$)", re.S | re.I)
_THINK_RE = re.compile(r"<think>(.*?)(?:</think>|(?=<(?:search|answer)>)|$)", re.S | re.I)
MAX_QUERY_CHARS = 500
MAX_ANSWER_CHARS = 1000


def escape(text: str) -> str:
    """Make protocol tags inert: `</information>` becomes `[/information]`, for any case or spacing."""
    return _TAG_RE.sub(lambda m: f"[{m.group(1)}{m.group(2).lower()}]", text or "")


class Search(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experts: list[str] = Field(..., min_length=1)
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS)


class Turn(BaseModel):
    """A usable router turn: searches to run, or a final answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["search", "answer"]
    think: str = ""
    searches: list[Search] = []
    answer: str = ""
    repairs: list[str] = []


class TurnError(BaseModel):
    """A router turn that cannot be used; `message` tells the router how to do better."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    think: str = ""
    message: str


def parse_turn(text: str, experts: list[str], *, max_searches: int = 2) -> Turn | TurnError:
    """Parse one router output against the enabled experts' names (matched case-insensitively)."""
    text = (text or "").replace("\r", "")
    think_match = _THINK_RE.search(text)
    think = _clean(think_match.group(1)) if think_match else ""
    body = text[think_match.end():] if think_match else text
    body = body.split("<information>", 1)[0]  # the router may not write its own evidence
    repairs: list[str] = []
    blocks = list(_BLOCK_RE.finditer(body))
    if not blocks:
        hint = "Write <search>Expert: question</search> to ask an expert, or <answer>...</answer> to finish."
        return TurnError(think=think, message=f"Your output had no <search> or <answer>. {hint}")
    for block in blocks:
        if not re.search(rf"</{block.group(1)}>", block.group(0), re.I):
            repairs.append(f"added the missing </{block.group(1).lower()}>")
    first = blocks[0].group(1).lower()
    if first == "answer":
        answer = _clean(blocks[0].group(2))[:MAX_ANSWER_CHARS]
        if not answer:
            return TurnError(think=think, message="Your <answer> was empty. Write the answer inside <answer>...</answer>.")
        return Turn(kind="answer", think=think, answer=answer, repairs=repairs)
    searches: list[Search] = []
    problems: list[str] = []
    for block in blocks:
        if block.group(1).lower() != "search":
            break  # an answer after searches waits for the evidence
        parsed = _parse_search(block.group(2), experts)
        if isinstance(parsed, str):
            problems.append(parsed)
        elif parsed in searches:
            repairs.append("dropped a repeated search")
        else:
            searches.append(parsed)
    if not searches:
        return TurnError(think=think, message=" ".join(problems))
    if len(searches) > max_searches:
        repairs.append(f"kept the first {max_searches} of {len(searches)} searches")
        searches = searches[:max_searches]
    repairs.extend(f"skipped a search: {p}" for p in problems)
    return Turn(kind="search", think=think, searches=searches, repairs=repairs)


def restore_stop(text: str) -> str:
    """The server cuts a stop string (</search>, </answer>) from the reply: put it back."""
    stripped = (text or "").rstrip()
    for tag in ("search", "answer"):
        opened = stripped.lower().rfind(f"<{tag}>")
        if opened != -1 and f"</{tag}>" not in stripped[opened:].lower():
            return stripped + f"</{tag}>"
    return text or ""


def _parse_search(body: str, experts: list[str]) -> Search | str:
    names = {e.lower(): e for e in experts}
    listing = ", ".join(experts)
    head, sep, query = _clean(body).partition(":")
    if not sep:
        return f"A search needs an expert name first, as in <search>{experts[0]}: question</search> (experts: {listing})."
    chosen: list[str] = []
    for raw in re.split(r"\s*[,+&]\s*|\s+and\s+", head.strip()):
        name = names.get(raw.strip().strip("*[]\"'").lower())
        if name is None:
            return f"There is no expert named '{raw.strip()[:40]}'. Choose from: {listing}."
        if name not in chosen:
            chosen.append(name)
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query:
        return f"Your search for {', '.join(chosen)} had no question after the colon."
    return Search(experts=chosen, query=query)


def _clean(text: str) -> str:
    return " ".join(_TAG_RE.sub(" ", text or "").split())
