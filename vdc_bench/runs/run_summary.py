"""One evaluated setting, summarised from saved files alone.

Inputs: an lmms-eval output folder (``*_results.json`` + ``*_samples_<task>.jsonl``) and the VDCscore
scores JSON written next to it (``vdcscore_scores.json``, schema in EVAL.md section "Reference").
Output: a plain JSON-able ``RunSummary`` that sweeps, reports and the leaderboard share.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.errors import VdcBenchError
from vdc_bench.runs.efficiency import Efficiency, efficiency_from_records
from vdc_bench.runs.lmms_runner import LmmsRun, find_run
from vdc_bench.scoring.caption_records import RECORD_KEY
from vdc_bench.scoring.score_files import AUDIT_NAME, SCORES_NAME, judging_failure

RATIO_KEYS = ("token_kept_ratio", "token_merge_ratio")


@dataclass
class RunSummary:
    label: str
    kind: str  # "run" | "demo"
    model: str
    model_args: str
    token_kept_ratio: float | None  # as requested in model_args (None: adapter default)
    tasks: list[str]
    date: str  # YYYY-MM-DD (UTC) of the lmms-eval run
    results_path: str
    scores_path: str | None
    audit_path: str | None
    scores: dict[str, Any] | None  # {"dimensions": {dim: {...}}, "vdcscore": {...}} from the scores JSON
    judge: dict[str, Any] | None  # the judge as the scores JSON records it (model, host, description, ...)
    protocol: dict[str, Any] | None
    judge_usage: dict[str, Any] | None  # calls, cache hits, failures, seconds
    efficiency: Efficiency
    failures: list[dict[str, str]] = field(default_factory=list)  # failed captions: sample_key, error
    config: dict[str, Any] = field(default_factory=dict)  # lmms-eval config subset
    versions: dict[str, str] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)  # how the captions were computed (runtime_from_records)
    damaged_videos: list[str] = field(default_factory=list)  # sample keys captioned from a truncated/corrupt file
    random_weights: bool = False  # a sample's checkpoint carries the random-weights marker: never a real result
    judging_failure: str | None = None  # set: QAs the judge did not judge, the numbers are not a VDCscore

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["efficiency"] = self.efficiency.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunSummary:
        values = {k: raw.get(k) for k in cls.__dataclass_fields__}
        values["efficiency"] = Efficiency.from_dict(raw.get("efficiency") or {})
        values["failures"] = values["failures"] or []
        values["config"] = values["config"] or {}
        values["versions"] = values["versions"] or {}
        values["runtime"] = values["runtime"] or {}
        values["random_weights"] = bool(values["random_weights"])
        values["damaged_videos"] = values["damaged_videos"] or []
        return cls(**values)

    # --- accessors used by plots and tables (None where not scored) ---

    def dimension(self, dim: str) -> dict[str, Any] | None:
        return ((self.scores or {}).get("dimensions") or {}).get(dim)

    def overall(self) -> dict[str, Any] | None:
        return (self.scores or {}).get("vdcscore")

    @property
    def judge_model(self) -> str:
        return (self.judge or {}).get("model") or "not scored"


def parse_model_args(model_args: str) -> dict[str, str]:
    """``"k=v,k2=v2"`` -> dict (values stay strings)."""
    out = {}
    for part in filter(None, (p.strip() for p in model_args.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise VdcBenchError(f"model_args: {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def ratio_from_model_args(model_args: str) -> float | None:
    args = parse_model_args(model_args)
    for key in RATIO_KEYS:
        if key in args:
            try:
                return float(args[key])
            except ValueError as err:
                raise VdcBenchError(f"model_args: {key}={args[key]!r} is not a number") from err
    return None


def vdc_records(run: LmmsRun) -> list[dict[str, Any]]:
    """The VDC per-sample records of every subtask (other tasks' samples have no record and are skipped)."""
    records = []
    for task in sorted(run.samples):
        for line in run.read_samples(task):
            rec = line.get(RECORD_KEY)
            if isinstance(rec, dict) and rec.get("dimension") in DIMENSIONS:
                records.append(rec)
    return records


def locate_run(run_dir: Path) -> LmmsRun:
    run = find_run(run_dir)
    if run is None:
        raise VdcBenchError(f"{run_dir}: no lmms-eval *_results.json under this folder")
    others = [p for p in run_dir.rglob("*_results.json") if p != run.results_path]
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise VdcBenchError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from err


RUNTIME_KEYS = ("dtype", "device", "decode", "processes")


def runtime_from_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """dtype, device, decode path and data-parallel processes as the adapter recorded them per sample
    (one value, or the sorted list where they differ), and the largest batch. In fp16 a caption's greedy
    tokens can depend on all of them, so a result names them. Empty for adapters that record none."""
    stats = [r.get("stats") or {} for r in records]
    out: dict[str, Any] = {}
    for key in RUNTIME_KEYS:
        values = sorted({s[key] for s in stats if s.get(key) is not None}, key=str)
        if values:
            out[key] = values[0] if len(values) == 1 else values
    batches = [s["batch_size"] for s in stats if isinstance(s.get("batch_size"), int)]
    if batches:
        out["max_batch_size"] = max(batches)
    return out


def _judge_usage(scores_path: Path, scores_doc: dict[str, Any]) -> dict[str, Any]:
    """Judge calls and seconds. A combined file written during lmms-eval aggregation carries no call
    counts; its per-dimension sub-folders do, and they are summed here."""
    docs = [scores_doc]
    if scores_doc.get("calls") is None:
        docs = [_read_json(p) for p in sorted(scores_path.parent.glob(f"*/{SCORES_NAME}"))]
    totals: dict[str, Any] = {"calls": 0, "cache_hits": 0, "failed": 0, "retries": 0, "seconds": 0.0,
                              "prompt_tokens": 0, "completion_tokens": 0}
    for doc in docs:
        calls = doc.get("calls") or {}
        totals["calls"] += calls.get("http_attempts") or 0
        totals["cache_hits"] += calls.get("cache_hits") or 0
        totals["failed"] += calls.get("failed") or 0
        totals["retries"] += calls.get("retries") or 0
        totals["prompt_tokens"] += calls.get("prompt_tokens") or 0  # as the judge server reported them
        totals["completion_tokens"] += calls.get("completion_tokens") or 0
        totals["seconds"] += doc.get("elapsed_s") or 0.0
    return totals


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
    results = _read_json(run.results_path)
    config = results.get("config") or {}
    model_args = str(config.get("model_args") or "")
    records = vdc_records(run)
    scores_path = scores_path or find_scores(run_dir)
    scores_doc = _read_json(scores_path) if scores_path else None
    audit = scores_path.parent / AUDIT_NAME if scores_path else None
    date = str(results.get("date") or "")
    stamp = run.results_path.name[:8]
    return RunSummary(
        label=label or run_dir.name,
        kind=kind,
        model=str(config.get("model") or "unknown"),
        model_args=model_args,
        token_kept_ratio=ratio_from_model_args(model_args),
        tasks=sorted((results.get("results") or {}).keys()),
        date=f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" if stamp.isdigit() else date[:10],
        results_path=str(run.results_path),
        scores_path=str(scores_path) if scores_path else None,
        audit_path=str(audit) if audit and audit.is_file() else None,
        scores=(
            {"dimensions": scores_doc.get("dimensions") or {}, "vdcscore": scores_doc.get("vdcscore")}
            if scores_doc else None
        ),
        judge=scores_doc.get("judge") if scores_doc else None,
        protocol=scores_doc.get("protocol") if scores_doc else None,
        judge_usage=_judge_usage(scores_path, scores_doc) if scores_path and scores_doc else None,
        efficiency=efficiency_from_records(records),
        failures=[
            {"sample_key": str(r.get("sample_key") or f"{r.get('dimension')}/{r.get('video_id')}"),
             "error": str(r.get("error") or "failed")}
            for r in records if r.get("failed")
        ],
        config={k: config.get(k) for k in ("model", "model_args", "batch_size", "limit", "gen_kwargs",
                                           "random_seed", "numpy_seed", "torch_seed")},
        versions=versions or (scores_doc or {}).get("versions") or {},
        runtime=runtime_from_records(records),
        damaged_videos=sorted(
            str(r.get("sample_key") or f"{r.get('dimension')}/{r.get('video_id')}")
            for r in records if (r.get("stats") or {}).get("video_damaged")
        ),
        random_weights=any((r.get("stats") or {}).get("random_weights") for r in records),
        judging_failure=judging_failure(scores_doc) if scores_doc else None,
    )
