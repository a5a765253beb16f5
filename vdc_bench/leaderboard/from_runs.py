"""Leaderboard entries from our own results: a scores JSON, an lmms-eval run folder or a sweep folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vdc_bench.errors import VdcBenchError
from vdc_bench.leaderboard.board import load_board, save_board, upsert
from vdc_bench.leaderboard.published import PUBLISHED_JUDGE
from vdc_bench.leaderboard.schema import DIMENSIONS, Entry, Score, mean_of_dimensions
from vdc_bench.runs.run_summary import RunSummary, summarize_run
from vdc_bench.runs.sweep import SWEEP_FILE, load_sweep
from vdc_bench.scoring.score_files import SCORES_NAME

DEMO_NOTE = "demo, tiny random model"
RANDOM_WEIGHTS_NOTE = "demo: random weights, not a result"


def _score(block: dict | None) -> Score:
    block = block or {}
    return Score(acc=block.get("acc"), score=block.get("score"), acc_ci=block.get("acc_ci95"),
                 score_ci=block.get("score_ci95"), n=block.get("n_videos"))


def stable_id(kind: str, results_path: str) -> str:
    """The same run gives the same id however its path was typed (relative, absolute, moved): the digest
    of its lmms-eval results file; the absolute path only when that file is gone."""
    path = Path(results_path)
    try:
        return f"{kind}:sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    except OSError:
        return f"{kind}:{path.resolve()}"


def entry_from_summary(summary: RunSummary, name: str | None = None) -> Entry:
    if summary.scores is None:
        raise VdcBenchError(f"{summary.results_path}: this run has no VDCscore scores; score it first "
                            "(vdc-bench score) or run it without --predict_only")
    if summary.judging_failure:
        raise VdcBenchError(f"{summary.scores_path}: {summary.judging_failure}; not added to the leaderboard")
    dims = {d: _score(summary.dimension(d)) for d in DIMENSIONS}
    overall = summary.overall() or {}
    proto = summary.protocol or {}
    flags = []
    judge = summary.judge_model
    if judge != PUBLISHED_JUDGE:
        flags.append(f"judged by {judge}, not {PUBLISHED_JUDGE}: not comparable with published rows")
    if proto and not proto.get("same_prompts_as_published", proto.get("comparable_with_published", True)):
        flags.append(f"protocol {proto.get('name')} uses constrained JSON: not comparable with published VDCscore")
    missing = [d for d in DIMENSIONS if dims[d].acc is None]
    if missing:
        flags.append(f"dimensions not evaluated: {', '.join(missing)}; the average covers the others only")
    eff = summary.efficiency
    if summary.damaged_videos:
        flags.append(f"{len(summary.damaged_videos)} captions from truncated or corrupt videos (decodable frames only)")
    if eff.failed:
        flags.append(f"{eff.failed} of {eff.captions} captions failed and count as 0")
    judged_failures = {k: v for k, v in (overall.get("failures") or {}).items() if v}
    if judged_failures:
        detail = ", ".join(f"{v} {k}" for k, v in judged_failures.items())
        flags.append(f"{detail} of {overall.get('n_qas')} QAs, counted as no/0")
    if summary.config.get("limit") is not None:
        flags.append(f"subset: lmms-eval --limit {summary.config['limit']} per dimension")
    ratio = summary.token_kept_ratio
    default_name = f"{summary.model}" + (f" ρ={ratio:g}" if ratio is not None else "")
    # Random weights are never a real run, whatever --kind says: unranked, beside the demo rows.
    kind = "demo" if summary.kind == "demo" or summary.random_weights else "run"
    if summary.random_weights and summary.kind != "demo":
        flags.append("the checkpoint carries the random-weights marker: its numbers are not results of any model")
    return Entry(
        id=stable_id(kind, summary.results_path),
        model=name or default_name,
        kind=kind,
        frames=round(eff.frames_per_video) if eff.frames_per_video else None,
        tokens_per_frame=eff.visual_tokens_per_frame,
        tokens_per_frame_kind="measured",
        judge_model=judge,
        protocol=f"{proto.get('name', 'unknown')} (prompts sha256 {str(proto.get('prompt_sha256', ''))[:12]})",
        dimensions=dims,
        average=Score(acc=overall.get("acc"), score=overall.get("score"), acc_ci=overall.get("acc_ci95"),
                      score_ci=overall.get("score_ci95")),
        computed_average=mean_of_dimensions(dims),
        source=str(Path(summary.scores_path or summary.results_path).resolve()),
        date=summary.date,
        flags=flags,
        run_config={
            "model_args": summary.model_args,
            "token_kept_ratio": ratio,
            "tasks": summary.tasks,
            "limit": summary.config.get("limit"),
            "judge": summary.judge,
            "versions": summary.versions,
            "runtime": summary.runtime,
        },
        note=(DEMO_NOTE if summary.kind == "demo" else RANDOM_WEIGHTS_NOTE) if kind == "demo" else "",
    )


def summaries_from_path(path: Path, kind: str) -> list[RunSummary]:
    """Summaries of a sweep folder (one per ratio, with the kind the sweep recorded), a run folder, or a
    scores JSON inside a run folder (both get ``kind``)."""
    path = Path(path)
    if path.is_file():
        if path.name != SCORES_NAME:
            raise VdcBenchError(f"{path}: expected a {SCORES_NAME}, a run folder or a sweep folder")
        run_dir = path.parent.parent if path.parent.name.startswith("vdcscore_") else path.parent
        return [summarize_run(run_dir, kind=kind, scores_path=path)]
    if (path / SWEEP_FILE).is_file():
        return load_sweep(path / SWEEP_FILE)[1]
    if path.is_dir():
        return [summarize_run(path, kind=kind)]
    raise VdcBenchError(f"{path}: no such file or folder")


def add_results(board: Path, path: Path, kind: str | None = None, name: str | None = None) -> tuple[int, int]:
    """Add (or replace) the rows of ``path`` on the board file; returns (added, replaced).

    ``kind``: "demo" or "run" overrides what was recorded (a sweep records its own kind).
    """
    summaries = summaries_from_path(path, kind=kind or "run")
    if kind:
        for summary in summaries:
            summary.kind = kind
    new = [entry_from_summary(s, name if len(summaries) == 1 else None) for s in summaries]
    entries, added, replaced = upsert(load_board(board), new)
    save_board(board, entries)
    return added, replaced
