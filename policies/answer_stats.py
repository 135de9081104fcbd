"""Cheap features of an answer, read from its text alone: what a verifier (FrugalGPT's answer scorer,
AutoMix's self-check) looks at before a cascade keeps a cheap model's answer or escalates.

No model is called. The strongest signals on worked arithmetic (GSM8K) are checks the answer makes
possible itself: every calculation it writes down (`<<48/2=24>>` annotations and inline `a op b = c`)
is recomputed, and a wrong one is a near-certain failure; then hedging ("approximately", "however",
"round"), a final answer that is not a whole number, one that merely repeats a number of the question,
question numbers the answer never uses, and its length."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Sequence

import numpy as np

_NUM = r"-?\d[\d,]*(?:\.\d+)?"
_ANNOTATION = re.compile(r"<<([^=<>]*)=([^<>]*)>>")
_INLINE = re.compile(r"((?:%s\s*[-+*/x×]\s*)+%s)\s*=\s*\$?\s*(%s)" % (_NUM, _NUM, _NUM))
_FINAL = re.compile(r"(?:####|answer is|answer:)\s*\$?\s*(%s)" % _NUM, re.IGNORECASE)
_HEDGES = ("however", "approximately", "round", "assum", "not possible", "cannot", "can't", "actually", "wait",
           "mistake", "but since", "not enough", "unclear", "doesn't make sense", "not a whole", "estimate")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
NAMES = ("log_chars", "log_lines", "calculations", "wrong_annotations", "wrong_inline", "any_wrong", "no_final_number",
         "fractional_final", "negative_final", "log_abs_final", "final_repeats_question", "question_numbers_unused",
         "hedges", "any_hedge", "log_numbers", "final_is_zero")


def arithmetic(expr: str) -> float | None:
    """The value of a plain arithmetic expression (numbers, + - * / and brackets), else None. Never eval."""
    text = expr.replace(",", "").replace("$", "").replace("×", "*").replace("x", "*").strip()
    if not text or len(text) > 200:
        return None
    try:
        return _value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_value(node.left), _value(node.right))
    raise ValueError("not plain arithmetic")


def _wrong(lhs: str, rhs: str) -> bool | None:
    """Whether a written calculation lhs = rhs is wrong (rounding to cents allowed); None if unreadable."""
    v, w = arithmetic(lhs), arithmetic(rhs)
    if v is None or w is None:
        return None
    return abs(v - w) > 0.011 * max(1.0, abs(v)) and abs(round(v) - w) > 1e-9


def final_number(answer: str) -> float | None:
    """The answer's final number: after '####' / 'answer is', else the last number it writes."""
    marked = _FINAL.findall(answer)
    found = marked[-1] if marked else (re.findall(_NUM, answer) or [None])[-1]
    try:
        return None if found is None else float(found.replace(",", ""))
    except ValueError:
        return None


def answer_stats(query: str, answer: str | None) -> list[float]:
    """One row of features (``NAMES``) of ``answer`` to ``query``; a missing answer is all zeros but
    'no final number'."""
    a = answer or ""
    notes = _ANNOTATION.findall(a)
    wrong_notes = sum(bool(_wrong(lhs, rhs)) for lhs, rhs in notes)
    wrong_inline = sum(bool(_wrong(lhs, rhs)) for lhs, rhs in _INLINE.findall(a))
    final = final_number(a)
    q_numbers = {n.replace(",", "") for n in re.findall(_NUM, query)}
    a_numbers = {n.replace(",", "") for n in re.findall(_NUM, a)}
    low = a.lower()
    hedges = sum(low.count(h) for h in _HEDGES)
    repeats = final is not None and any(_same(final, n) for n in q_numbers)
    return [np.log1p(len(a)), np.log1p(a.count("\n")), float(len(notes)), float(wrong_notes), float(wrong_inline),
            float(wrong_notes + wrong_inline > 0), float(final is None),
            float(final is not None and final != int(final)), float(final is not None and final < 0),
            float(np.log1p(abs(final))) if final is not None else 0.0, float(repeats),
            len(q_numbers - a_numbers) / max(1, len(q_numbers)), float(hedges), float(hedges > 0),
            float(np.log1p(len(a_numbers))), float(final == 0)]


def _same(x: float, text: str) -> bool:
    try:
        return abs(float(text) - x) < 1e-9
    except ValueError:
        return False


def answer_matrix(queries: Sequence[str], answers: Sequence[str | None]) -> np.ndarray:
    """(n, len(NAMES)) features of each answer to its query."""
    return np.array([answer_stats(q, a) for q, a in zip(queries, answers)], dtype=np.float64).reshape(len(queries), len(NAMES))
