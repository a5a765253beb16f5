"""lmms-eval aggregation functions for the ``vdc_*`` tasks (metrics ``vdc_acc`` and ``vdc_score``).

lmms-eval calls each aggregation with the per-doc ``SampleRecord``s (vdc_bench/records.py) of one task
and, because the signature has ``args``, its CLI namespace. The judge runs here, once per task and with full
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vdc_bench.dataset.settings import ENV as DATA_ENV
from vdc_bench.judge.embedded import resolve_judge
from vdc_bench.logs import logger
from vdc_bench.records import ScoresDocument
from vdc_bench.scoring.caption_records import CaptionItem, check_unique, item_from_record
from vdc_bench.scoring.judge_client import JudgeUnusableError
from vdc_bench.scoring.judge_settings import ENV_PROTOCOL, JudgeSettings
from vdc_bench.scoring.pipeline import ScoringConfig, build_document, score_captions
from vdc_bench.scoring.protocol import DEFAULT_PROTOCOL, load_protocol
from vdc_bench.scoring.score_files import write_outputs
from vdc_bench.scoring.scorer import QAJudgement
from vdc_bench.scoring.verdict_cache import default_cache_path

SHARD_ENV = DATA_ENV["shard"]

_LOCK = threading.Lock()
_SETTINGS: JudgeSettings | None = None
# content key -> scores document (acc and score share it); None: a shard, or the judge was unusable
_SCORED: dict[str, ScoresDocument | None] = {}


@dataclass
class _Run:
    """The dimensions scored into one ``<output_path>/vdcscore_<UTC time>/`` folder."""

    root: Path
    items: dict[str, list[CaptionItem]] = field(default_factory=dict)  # dimension -> captions
    judgements: dict[str, list[QAJudgement]] = field(default_factory=dict)


_RUNS: dict[str, _Run] = {}  # output_path -> current run


def _settings() -> JudgeSettings:
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = resolve_judge()
    return _SETTINGS


def _content_key(items: Sequence[CaptionItem]) -> str:
    # Content, not object identity: lmms-eval may hand each metric its own (e.g. gathered) copies.
    rows = sorted((i.dimension, i.video_id, i.caption, i.failed, [(q.question, q.answer) for q in i.qa]) for i in items)
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def _run_for(output_path: str, dims: set[str]) -> _Run:
    """The run folder for these dimensions; a dimension scored again (a second evaluation in the same
    process) starts a new folder, so a combined file never mixes two evaluations."""
    run = _RUNS.get(output_path)
    if run is None or dims & set(run.items):
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
        root = Path(output_path) / f"vdcscore_{stamp}"
        n = 1
        while root.exists() or any(r.root == root for r in _RUNS.values()):
            n += 1
            root = Path(output_path) / f"vdcscore_{stamp}_{n}"
        run = _RUNS[output_path] = _Run(root)
    return run


def _score(records: Sequence[Mapping[str, Any]], args: Any) -> ScoresDocument | None:
    items = check_unique(item_from_record(r, f"lmms-eval record {i}") for i, r in enumerate(records))
    key = _content_key(items)
    with _LOCK:  # one judge run per task, even if both metrics are aggregated concurrently
        if key in _SCORED:
            return _SCORED[key]
        shard = os.environ.get(SHARD_ENV, "").strip()
        if shard:
            # A shard holds every N-th video: its VDCscore would pass for the benchmark's. NaN, not that number.
            logger.error(f"VDCscore not computed: {SHARD_ENV}={shard} selects a shard of the videos; "
                         "run shards with --predict_only and score all shard folders together with `vdc-bench score`.")
            _SCORED[key] = None
            return None
        settings = _settings()
        config = ScoringConfig(
            protocol=load_protocol(os.environ.get(ENV_PROTOCOL, "").strip() or DEFAULT_PROTOCOL),
            cache_path=default_cache_path(),
        )
        output_path = getattr(args, "output_path", None) if args is not None else None
        dims = {i.dimension for i in items}
        run = _run_for(str(output_path), dims) if output_path else None
        out_dir = run.root / "+".join(sorted(dims)) if run else None
        try:
            doc, judgements = score_captions(items, settings, config, out_dir, ["lmms-eval"])
        except JudgeUnusableError as err:
            # Raising here would end lmms-eval before it writes results and samples: hours of captions lost.
            # The metrics become NaN instead; the samples can be scored later with `vdc-bench score`.
            logger.error(f"[vdc-bench] ERROR: VDCscore not computed for {sorted(dims)}: {err}. The captions are "
                         "kept in the samples file (--log_samples): score them with `vdc-bench score <output_path>`.")
            _SCORED[key] = None
            return None
        failure = doc.judging_failure()
        if failure:
            # lmms-eval can only show a bare number: NaN, not the no/0 count of the unjudged QAs.
            logger.error(f"[vdc-bench] ERROR: VDCscore not computed for {sorted(dims)}: {failure}. The files in "
                         f"{out_dir or 'no output folder'} say which QAs; `vdc-bench score <output_path>` re-judges them.")
        _SCORED[key] = doc
        if run is not None:
            for dim in dims:
                run.items[dim] = [i for i in items if i.dimension == dim]
                run.judgements[dim] = [j for j in judgements if j.dimension == dim]
            _write_combined(run, settings, config)
        return doc


def _write_combined(run: _Run, settings: JudgeSettings, config: ScoringConfig) -> None:
    """Scores over every dimension of this run so far (the VDCscore row, joint CIs)."""
    items = [i for its in run.items.values() for i in its]
    judgements = [j for js in run.judgements.values() for j in js]
    doc = build_document(judgements, items, settings, config, None, ["lmms-eval"], None)
    write_outputs(run.root, doc, judgements)


def _metric(items: Sequence[Mapping[str, Any]], args: Any, name: str) -> float:
    doc = _score(items, args)
    # None: a shard, or the judge was unusable; no vdcscore: no record had any QA
    if doc is None or doc.vdcscore is None or doc.judging_failure():
        return float("nan")
    return float(getattr(doc.vdcscore, name))


def _stderr(name: str):
    def stderr(items: Sequence[Mapping[str, Any]]) -> float | str:
        # Called right after the aggregation with the same records: a memo hit, no judge call.
        doc = _score(items, None)
        value = None if doc is None or doc.vdcscore is None else getattr(doc.vdcscore, f"{name}_stderr")
        return "N/A" if value is None else float(value)

    return stderr


def aggregate_acc(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """VDCscore accuracy (x100, 0..100) of these records: macro over videos, failures as no."""
    return _metric(items, args, "acc")


def aggregate_score(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """VDCscore score (0..5) of these records: macro over videos, failures as 0."""
    return _metric(items, args, "score")


# lmms-eval computes ``<metric>_stderr`` only for aggregations it knows (bootstrap of a plain function), so
# VDCscore's would be "N/A". Its lookup is wrapped to answer with the bootstrap standard error VDCscore
# already computed (clustered by video), which then reaches results.json, the console table, W&B and the
# Hub push like any other stderr. ``--bootstrap_iters 0`` still turns it off.
_STDERRS = {aggregate_acc: _stderr("acc"), aggregate_score: _stderr("score")}


def _report_stderrs() -> None:
    from lmms_eval import evaluator_utils

    lookup = evaluator_utils.stderr_for_metric

    def stderr_for_metric(metric: Any, bootstrap_iters: int) -> Any:
        if metric in _STDERRS and bootstrap_iters > 0:
            return _STDERRS[metric]
        return lookup(metric, bootstrap_iters)

    evaluator_utils.stderr_for_metric = stderr_for_metric


_report_stderrs()
