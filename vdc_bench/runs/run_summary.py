"""One evaluated setting, summarised from saved files alone.

Inputs: an lmms-eval output folder (``*_results.json`` + ``*_samples_<task>.jsonl`` holding
``SampleRecord``s) and the ``ScoresDocument`` written next to it (``vdcscore_scores.json``).
Output: a ``RunSummary`` (vdc_bench/records.py) that sweeps, reports and the leaderboard share.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import (
    CaptionFailure,
    JudgeUsage,
    MetricValue,
    RunScores,
    RunSummary,
    SampleRecord,
    ScoresDocument,
    TaskMetrics,
    read_json_file,
    sample_record_of_line,
)
from vdc_bench.runs.efficiency import efficiency_from_records
from vdc_bench.runs.lmms_runner import LmmsRun, find_run, results_files
from vdc_bench.scoring.score_files import AUDIT_NAME, SCORES_NAME


def vdc_records(run: LmmsRun) -> list[SampleRecord]:
    """The VDC sample records of every subtask (other tasks' samples have no record and are skipped)."""
    records = []
    for task in sorted(run.samples):
        path = run.samples[task]
        for lineno, line in read_jsonl(path):
            rec = sample_record_of_line(line, f"{path}:{lineno}")
            if rec is not None:
                records.append(rec)
    return records


def recorded_ratio(records: list[SampleRecord], where: Path) -> float | None:
    """The ``token_kept_ratio`` the adapter recorded with its samples (None: the model records none)."""
    ratios = sorted({r.stats.token_kept_ratio for r in records if r.stats.token_kept_ratio is not None})
    if len(ratios) > 1:
        raise VdcBenchError(f"{where}: the samples record several token_kept_ratio values {ratios}; one run has one")
    return ratios[0] if ratios else None


def locate_run(run_dir: Path) -> LmmsRun:
    run = find_run(run_dir)
    if run is None:
        raise VdcBenchError(f"{run_dir}: no lmms-eval *_results.json under this folder")
    others = [p for p in results_files(run_dir) if p != run.results_path]
    if others:  # never a silent choice: say which run the numbers come from
        print(f"warning: {run_dir} holds {len(others) + 1} lmms-eval runs; using the newest, {run.results_path} "
              "(give each run its own --output_path to avoid this)", file=sys.stderr)
    return run


def find_scores(run_dir: Path) -> Path | None:
    """The newest combined scores JSON under ``run_dir``.

    During an lmms-eval run the VDC aggregation writes ``vdcscore_<UTC>/vdcscore_scores.json`` (all
    dimensions) plus one sub-folder per dimension; ``vdc-bench score`` writes a single file.
    """
    candidates = list(run_dir.rglob(SCORES_NAME))
    combined = [p for p in candidates if p.parent.name.startswith("vdcscore_") or p.parent == run_dir]
    pool = combined or candidates
    return max(pool, key=lambda p: p.stat().st_mtime) if pool else None


RUNTIME_KEYS = ("dtype", "device", "decode", "processes")


def runtime_from_records(records: list[SampleRecord]) -> dict[str, Any]:
    """dtype, device, decode path and data-parallel processes as the adapter recorded them per sample
    (one value, or the sorted list where they differ), and the largest batch. In fp16 a caption's greedy
    tokens can depend on all of them, so a result names them. Empty for adapters that record none."""
    out: dict[str, Any] = {}
    for key in RUNTIME_KEYS:
        values = sorted({getattr(r.stats, key) for r in records if getattr(r.stats, key) is not None}, key=str)
        if values:
            out[key] = values[0] if len(values) == 1 else values
    batches = [r.stats.batch_size for r in records if r.stats.batch_size is not None]
    if batches:
        out["max_batch_size"] = max(batches)
    return out


def _judge_usage(scores_path: Path, scores_doc: ScoresDocument) -> JudgeUsage:
    """Judge calls and seconds. A combined file written during lmms-eval aggregation carries no call
    counts; its per-dimension sub-folders do, and they are summed here."""
    docs = [scores_doc]
    if scores_doc.calls is None:
        docs = [ScoresDocument.load(p) for p in sorted(scores_path.parent.glob(f"*/{SCORES_NAME}"))]
    calls = [doc.calls for doc in docs if doc.calls is not None]
    return JudgeUsage(
        calls=sum(c.http_attempts for c in calls),
        cache_hits=sum(c.cache_hits for c in calls),
        failed=sum(c.failed for c in calls),
        retries=sum(c.retries for c in calls),
        seconds=sum(doc.elapsed_s or 0.0 for doc in docs),
        prompt_tokens=sum(c.prompt_tokens for c in calls),  # as the judge server reported them
        completion_tokens=sum(c.completion_tokens for c in calls),
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def task_metrics(results: dict[str, Any]) -> dict[str, TaskMetrics]:
    """Every task's and group's numeric metrics from an lmms-eval results file, with their stderrs.

    lmms-eval keys a metric ``<metric>,<filter>`` and its standard error ``<metric>_stderr,<filter>``
    ("N/A" where it computes none); the filter is dropped when it is ``none``. Entries with no numeric
    metric (a group without an aggregate) are left out."""
    counts = results.get("n-samples") or {}
    out = {}
    for task, block in sorted((results.get("results") or {}).items()):
        metrics = {}
        for key, value in block.items() if isinstance(block, dict) else ():
            metric, sep, filt = key.partition(",")
            number = _number(value)
            if not sep or "_stderr" in metric or number is None:  # also _stderr_clt, _stderr_clustered
                continue
            stderr = _number(block.get(f"{metric}_stderr,{filt}"))
            metrics[metric if filt == "none" else key] = MetricValue(value=number, stderr=stderr)
        if metrics:
            effective = (counts.get(task) or {}).get("effective")
            out[task] = TaskMetrics(metrics=metrics, samples=effective if isinstance(effective, int) else None)
    return out


def summarize_run(
    run_dir: Path,
    *,
    label: str | None = None,
    kind: str = "run",
    scores_path: Path | None = None,
    versions: dict[str, str] | None = None,
) -> RunSummary:
    """Summarise the lmms-eval run under ``run_dir`` (+ its scores JSON, if any) from its files."""
    run = locate_run(run_dir)
    results = read_json_file(run.results_path)  # lmms-eval's own format
    config = results.get("config") or {}
    records = vdc_records(run)
    scores_path = scores_path or find_scores(run_dir)
    scores_doc = ScoresDocument.load(scores_path) if scores_path else None
    audit = scores_path.parent / AUDIT_NAME if scores_path else None
    date = str(results.get("date") or "")
    stamp = run.results_path.name[:8]
    ratio = recorded_ratio(records, run.results_path.parent)
    return RunSummary(
        label=label or run_dir.name,
        kind=kind,
        model=str(config.get("model") or "unknown"),
        model_args=str(config.get("model_args") or ""),
        token_kept_ratio=ratio,
        tasks=sorted((results.get("results") or {}).keys()),
        date=f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" if stamp.isdigit() else date[:10],
        results_path=str(run.results_path),
        scores_path=str(scores_path) if scores_path else None,
        audit_path=str(audit) if audit and audit.is_file() else None,
        scores=RunScores(dimensions=scores_doc.dimensions, vdcscore=scores_doc.vdcscore) if scores_doc else None,
        judge=scores_doc.judge if scores_doc else None,
        protocol=scores_doc.protocol if scores_doc else None,
        judge_usage=_judge_usage(scores_path, scores_doc) if scores_path and scores_doc else None,
        efficiency=efficiency_from_records(records),
        failures=[CaptionFailure(sample_key=r.key, error=r.error or "failed") for r in records if r.failed],
        config={k: config.get(k) for k in ("model", "model_args", "batch_size", "limit", "gen_kwargs",
                                           "random_seed", "numpy_seed", "torch_seed")},
        versions=versions or (scores_doc.versions if scores_doc else {}),
        runtime=runtime_from_records(records),
        damaged_videos=sorted(r.key for r in records if r.stats.video_damaged),
        random_weights=any(r.stats.random_weights for r in records),
        judging_failure=scores_doc.judging_failure() if scores_doc else None,
        task_metrics=task_metrics(results),
        throughput={k: v for k, v in (results.get("throughput") or {}).items() if _number(v) is not None},
        token_kept_ratio_source="samples" if ratio is not None else None,
    )
