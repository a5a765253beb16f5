"""Leaderboard entries from our own results: a scores JSON, an lmms-eval run folder or a sweep folder."""

from __future__ import annotations

from pathlib import Path

from vdc_bench.errors import VdcBenchError
from vdc_bench.leaderboard.board import load_board, save_board, upsert
from vdc_bench.leaderboard.published import PUBLISHED_JUDGE
from vdc_bench.leaderboard.schema import DIMENSIONS, Entry, Score, mean_of_dimensions
from vdc_bench.records import DimensionScores, OverallScores, RunSummary
from vdc_bench.runs.run_summary import summarize_run
from vdc_bench.runs.sweep import SWEEP_FILE, load_sweep
from vdc_bench.scoring.score_files import SCORES_NAME

DEMO_NOTE = "demo, tiny random model"


def _score(block: DimensionScores | None) -> Score:
    if block is None:
        return Score(acc=None, score=None)
    return Score(acc=block.acc, score=block.score, acc_ci=block.acc_ci95, score_ci=block.score_ci95, n=block.n_videos)


def _average(block: OverallScores | None) -> Score:
    if block is None:
        return Score(acc=None, score=None)
    return Score(acc=block.acc, score=block.score, acc_ci=block.acc_ci95, score_ci=block.score_ci95)


def entry_from_summary(summary: RunSummary, name: str | None = None) -> Entry:
    if summary.scores is None:
        raise VdcBenchError(f"{summary.results_path}: this run has no VDCscore scores; score it first "
                            "(vdc-bench score) or run it without --predict_only")
    dims = {d: _score(summary.dimension(d)) for d in DIMENSIONS}
    overall = summary.overall()
    proto = summary.protocol
    flags = []
    judge = summary.judge_model
    if judge != PUBLISHED_JUDGE:
        flags.append(f"judged by {judge}, not {PUBLISHED_JUDGE}: not comparable with published rows")
    if proto and proto.comparable_with_published is False:
        flags.append(f"protocol {proto.name} uses constrained JSON: not comparable with published VDCscore")
    missing = [d for d in DIMENSIONS if dims[d].acc is None]
    if missing:
        flags.append(f"dimensions not evaluated: {', '.join(missing)}; the average covers the others only")
    eff = summary.efficiency
    if eff.failed:
        flags.append(f"{eff.failed} of {eff.captions} captions failed and count as 0")
    judged_failures = {k: v for k, v in overall.failures.items() if v} if overall else {}
    if judged_failures:
        detail = ", ".join(f"{v} {k}" for k, v in judged_failures.items())
        flags.append(f"{detail} of {overall.n_qas} QAs, counted as no/0")
    if summary.config.get("limit") is not None:
        flags.append(f"subset: lmms-eval --limit {summary.config['limit']} per dimension")
    ratio = summary.token_kept_ratio
    default_name = f"{summary.model}" + (f" ρ={ratio:g}" if ratio is not None else "")
    kind = "demo" if summary.kind == "demo" else "run"
    return Entry(
        id=f"{kind}:{summary.results_path}",
        model=name or default_name,
        kind=kind,
        frames=round(eff.frames_per_video) if eff.frames_per_video else None,
        tokens_per_frame=eff.visual_tokens_per_frame,
        tokens_per_frame_kind="measured",
        judge_model=judge,
        protocol=f"{proto.name} (prompts sha256 {(proto.prompt_sha256 or '')[:12]})" if proto else "unknown",
        dimensions=dims,
        average=_average(overall),
        computed_average=mean_of_dimensions(dims),
        source=summary.scores_path or summary.results_path,
        date=summary.date,
        flags=flags,
        run_config={
            "model_args": summary.model_args,
            "token_kept_ratio": ratio,
            "tasks": summary.tasks,
            "limit": summary.config.get("limit"),
            "judge": summary.judge.to_dict() if summary.judge else None,
            "versions": summary.versions,
            "runtime": summary.runtime,
        },
        note=DEMO_NOTE if kind == "demo" else "",
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
