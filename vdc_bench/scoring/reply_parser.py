"""Parse what judges really reply: Python-dict strings, JSON, prose around them, code fences.

Never ``eval``: candidates go through ``json.loads`` then ``ast.literal_eval`` (literals only), and the
reply is cut to ``MAX_REPLY_CHARS`` first so a runaway reply cannot make parsing expensive.

Deliberate deviation from the reference (documented in EVAL.md): ``pred`` is compared
case-insensitively (``'Yes'`` counts as yes; the reference's exact ``== 'yes'`` counts it as no).
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_REPLY_CHARS = 4096
SCORE_MIN, SCORE_MAX = 0.0, 5.0

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_FLAT_BRACES = re.compile(r"\{[^{}]*\}")
_PRED_KEY = re.compile(r"""["']?\bpred(?:iction)?["']?\s*[:=]\s*["']?\s*(yes|no|true|false)\b""", re.I)
_LEADING_YES_NO = re.compile(r"^\W*(yes|no)\b", re.I)
_SCORE_KEY = re.compile(r"""["']?\bscore["']?\s*[:=]\s*["']?\s*(-?\d+(?:\.\d+)?)""", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Verdict:
    pred: str  # "yes" | "no"
    score: float  # clamped to 0..5


def _candidates(text: str) -> list[str]:
    """Flat ``{...}`` substrings, those inside code fences first."""
    fenced = [c for block in _FENCE.findall(text) for c in _FLAT_BRACES.findall(block)]
    return fenced + _FLAT_BRACES.findall(text)


def _load_mapping(candidate: str) -> dict[str, Any] | None:
    for loader in (json.loads, ast.literal_eval):
        try:
            value = loader(candidate)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return {str(k).strip().lower(): v for k, v in value.items()}
    return None


def _norm_pred(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, str):
        return None
    word = value.strip().strip(".!,;:'\"").lower()
    if word in ("yes", "y", "true"):
        return "yes"
    if word in ("no", "n", "false"):
        return "no"
    return None


def _norm_score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = _NUMBER.search(value)
        value = match.group(0) if match else None
    try:
        score = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(score) or math.isinf(score):
        return None
    return min(SCORE_MAX, max(SCORE_MIN, score))


def parse_verdict(reply: str) -> Verdict | None:
    """Call 2 reply -> Verdict, or None if no ``pred`` and ``score`` can be found."""
    text = (reply or "")[:MAX_REPLY_CHARS]
    for candidate in _candidates(text):
        mapping = _load_mapping(candidate)
        if mapping is None:
            continue
        pred = _norm_pred(mapping.get("pred", mapping.get("prediction")))
        score = _norm_score(mapping.get("score"))
        if pred is not None and score is not None:
            return Verdict(pred, score)
    # Malformed dicts (unbalanced quotes, missing braces, "pred: yes, score: 4" prose).
    pred_match = _PRED_KEY.search(text) or _LEADING_YES_NO.search(text)
    score_match = _SCORE_KEY.search(text)
    if pred_match and score_match:
        pred = _norm_pred(pred_match.group(1))
        score = _norm_score(score_match.group(1))
        if pred is not None and score is not None:
            return Verdict(pred, score)
    return None


def parse_answer_json(reply: str) -> str | None:
    """Call 1 reply under ``vdcscore-v1-json`` (``{"answer": ...}``) -> the answer text, or None."""
    text = (reply or "")[:MAX_REPLY_CHARS]
    for candidate in _candidates(text):
        mapping = _load_mapping(candidate)
        if mapping is not None and isinstance(mapping.get("answer"), (str, int, float)):
            return str(mapping["answer"])
    return None
