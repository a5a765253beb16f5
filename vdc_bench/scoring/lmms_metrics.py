"""lmms-eval aggregation functions for the ``vdc_*`` tasks (metrics ``vdc_acc`` and ``vdc_score``).

lmms-eval calls each aggregation with the per-doc records of one task (INTERFACES.md §3) and, because
the signature has ``args``, its CLI namespace. The judge runs here, once per task and with full
concurrency, instead of one blocking doc at a time inside ``process_results``. ``vdc_acc`` and
``vdc_score`` receive the same records, so the judged result is memoised by the records' content:
the second metric makes no judge call (and any repeat goes through the verdict cache anyway).

Judge settings come from the environment (``VDC_JUDGE*``, ``OPENAI_API_KEY``; see judge_settings.py);
``VDC_JUDGE_PROTOCOL`` picks the protocol. With ``--output_path``, the scores JSON, Markdown table and
audit JSONL go to ``<output_path>/vdcscore_<UTC time>/<dimension>/``, plus a combined set for all
dimensions scored so far in ``<output_path>/vdcscore_<UTC time>/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vdc_bench.scoring.caption_records import CaptionItem, check_unique, item_from_record
from vdc_bench.scoring.judge_settings import JudgeSettings, resolve_judge
from vdc_bench.scoring.pipeline import ScoringConfig, build_document, score_captions
from vdc_bench.scoring.protocol import DEFAULT_PROTOCOL, load_protocol
from vdc_bench.scoring.score_files import write_outputs
from vdc_bench.scoring.scorer import QAJudgement
from vdc_bench.scoring.verdict_cache import default_cache_path

ENV_PROTOCOL = "VDC_JUDGE_PROTOCOL"

_LOCK = threading.Lock()
_SETTINGS: JudgeSettings | None = None
_RESULTS: dict[str, tuple[dict[str, Any], list[CaptionItem], list[QAJudgement]]] = {}
_RUN_STAMP = time.strftime("%Y%m%d_%H%M%S", time.gmtime())


def _settings() -> JudgeSettings:
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = resolve_judge()
    return _SETTINGS


def _content_key(items: Sequence[CaptionItem]) -> str:
    # Content, not object identity: lmms-eval may hand each metric its own (e.g. gathered) copies.
    rows = sorted((i.dimension, i.video_id, i.caption, i.failed, [(q.question, q.answer) for q in i.qa]) for i in items)
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def _output_root(args: Any) -> Path | None:
    output_path = getattr(args, "output_path", None) if args is not None else None
    return Path(output_path) / f"vdcscore_{_RUN_STAMP}" if output_path else None


def _score(records: Sequence[Mapping[str, Any]], args: Any) -> dict[str, Any]:
    items = check_unique(item_from_record(r, f"lmms-eval record {i}") for i, r in enumerate(records))
    key = _content_key(items)
    with _LOCK:  # one judge run per task, even if both metrics are aggregated concurrently
        if key not in _RESULTS:
            settings = _settings()
            config = ScoringConfig(
                protocol=load_protocol(os.environ.get(ENV_PROTOCOL, "").strip() or DEFAULT_PROTOCOL),
                cache_path=default_cache_path(),
            )
            root = _output_root(args)
            dims = "+".join(sorted({i.dimension for i in items}))
            doc, judgements = score_captions(items, settings, config, root / dims if root else None, ["lmms-eval"])
            _RESULTS[key] = (doc, list(items), judgements)
            if root is not None:
                _write_combined(root, settings, config)
        return _RESULTS[key][0]


def _write_combined(root: Path, settings: JudgeSettings, config: ScoringConfig) -> None:
    """Scores over every dimension judged so far in this process (the VDCscore row, joint CIs)."""
    items = [i for _, its, _ in _RESULTS.values() for i in its]
    judgements = [j for _, _, js in _RESULTS.values() for j in js]
    doc = build_document(judgements, items, settings, config, None, ["lmms-eval"], None)
    write_outputs(root, doc, judgements)


def _metric(items: Sequence[Mapping[str, Any]], args: Any, name: str) -> float:
    overall = _score(items, args)["vdcscore"]
    return float("nan") if overall is None else float(overall[name])  # None: no record had any QA


def aggregate_acc(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """VDCscore accuracy (x100, 0..100) of these records: macro over videos, failures as no."""
    return _metric(items, args, "acc")


def aggregate_score(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """VDCscore score (0..5) of these records: macro over videos, failures as 0."""
    return _metric(items, args, "score")
