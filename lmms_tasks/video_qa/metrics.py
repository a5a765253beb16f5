"""Aggregations of the video QA tasks: ``judge_accuracy`` (share of "yes"), ``judge_score`` and iVQA's own
accuracy ``ivqa_acc``.

Both metrics get the same records; the judged document is memoised by their content, so the second
metric makes no call. The judge comes from ``VDC_JUDGE*`` (embedded judge by default, or any
OpenAI-compatible endpoint); with ``--output_path`` the document (protocol, judge, summary, every
verdict) is written to ``<output_path>/video_qa_judge/<task>_<UTC time>.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.judge.embedded import resolve_judge
from vdc_bench.scoring.verdict_cache import VerdictCache, default_cache_path
from vdc_bench.scoring.video_qa import judge_video_qa

_LOCK = threading.Lock()
_JUDGED: dict[str, dict[str, Any]] = {}


def _judged(records: Sequence[dict[str, Any]], args: Any) -> dict[str, Any]:
    key = hashlib.sha256(json.dumps(list(records), sort_keys=True, default=str).encode("utf-8")).hexdigest()
    with _LOCK:
        if key not in _JUDGED:
            document = judge_video_qa(records, resolve_judge(), VerdictCache(default_cache_path()))
            output = getattr(args, "output_path", None)
            if output:
                folder = Path(output) / "video_qa_judge"
                folder.mkdir(parents=True, exist_ok=True)
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                task = records[0]["task"] if records else "video_qa"
                atomic_write_text(folder / f"{task}_{stamp}.json", json.dumps(document, indent=1))
            _JUDGED[key] = document
        return _JUDGED[key]


def accuracy(records: Sequence[dict[str, Any]], args: Any = None) -> float:
    return float(_judged(records, args)["summary"]["accuracy"])


def score(records: Sequence[dict[str, Any]], args: Any = None) -> float:
    return float(_judged(records, args)["summary"]["score"])


_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLE = re.compile(r"^(a|an|the) ")


def normalise_answer(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed, a leading article dropped (ours: iVQA itself
    compares classifier vocabulary entries, which need none)."""
    text = " ".join(_PUNCTUATION.sub(" ", text.lower()).split())
    return _ARTICLE.sub("", text)


def ivqa_score(pred: str, answers: Sequence[str]) -> float:
    """iVQA's accuracy of one QA: min(1, annotators who gave the predicted answer / 2), so an answer two of
    the five annotators agree on is fully right (iVQA, Yang et al., ICCV 2021; Just Ask's evaluation code,
    train/train_videoqa.py, scores ``(answer counts / 2).clamp(max=1)`` at the top-1 prediction)."""
    guess = normalise_answer(pred)
    return min(1.0, sum(normalise_answer(a) == guess for a in answers) / 2) if guess else 0.0


def ivqa_accuracy(records: Sequence[dict[str, Any]]) -> float:
    """Mean ``ivqa_score`` over the QAs; a sample the model failed on (``error``) scores 0."""
    if not records:
        return float("nan")
    return sum(0.0 if r.get("error") else ivqa_score(r["pred"], r["answers"]) for r in records) / len(records)
