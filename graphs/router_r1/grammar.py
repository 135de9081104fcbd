"""GBNF grammars that make a small router's output always parse (llama.cpp `grammar`).

Expert names are the grammar's only alternatives, and every free-text field is bounded: a 135M model
otherwise fills a field up to max_tokens."""

from __future__ import annotations

import json

THINK_CHARS = 100
QUERY_CHARS = 120
ANSWER_CHARS = 80


def _literal(text: str) -> str:
    return json.dumps(text)  # a GBNF string literal has JSON escaping


def _free(min_chars: int, max_chars: int) -> str:
    # no '<' (cannot open a tag) and no newline; first char not a space
    return f'[^<\\n ] [^<\\n]{{{min_chars - 1},{max_chars - 1}}}'


def router_grammar(experts: list[str], *, can_search: bool, max_searches: int = 1, max_experts_per_search: int = 2) -> str:
    """The router's grammar: think, then searches (if allowed) or an answer."""
    rules = [
        f'think ::= "<think>" {_free(1, THINK_CHARS)} "</think>\\n"',
        f'answer ::= "<answer>" {_free(1, ANSWER_CHARS)} "</answer>"',
    ]
    if can_search and experts:
        names = " | ".join(_literal(e) for e in experts)
        more_experts = f'(", " expert){{0,{max_experts_per_search - 1}}}' if max_experts_per_search > 1 else ""
        more_searches = f'("\\n" search){{0,{max_searches - 1}}}' if max_searches > 1 else ""
        rules += [
            f"expert ::= {names}",
            f'search ::= "<search>" expert {more_experts} ": " {_free(3, QUERY_CHARS)} "</search>"',
            f"root ::= think ( search {more_searches} | answer )",
        ]
    else:
        rules.append("root ::= think answer")
    return "\n".join(rules) + "\n"
