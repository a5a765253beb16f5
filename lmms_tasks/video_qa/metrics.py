"""Aggregations of the judged video QA tasks: ``judge_accuracy`` (share of "yes") and ``judge_score``.

Both metrics get the same records; the judged document is memoised by their content, so the second
metric makes no call. The judge comes from ``VDC_JUDGE*`` (embedded judge by default, or any
OpenAI-compatible endpoint); with ``--output_path`` the document (protocol, judge, summary, every
verdict) is written to ``<output_path>/video_qa_judge/<task>_<UTC time>.json``.
"""

from __future__ import annotations

import hashlib
import json
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
