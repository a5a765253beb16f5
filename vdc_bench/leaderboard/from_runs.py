"""Leaderboard entries from our own results: a scores JSON, an lmms-eval run folder or a sweep folder.

A scores JSON next to (or inside) an lmms-eval run gets that run's model, frames and tokens per frame;
one on its own (captions from another harness, scored with ``vdc-bench score``) needs ``--name``, and
its frames and tokens per frame are what the user states (nominal).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from vdc_bench.errors import VdcBenchError
from vdc_bench.leaderboard.board import load_board, save_board, upsert
from vdc_bench.leaderboard.published import PUBLISHED_JUDGE
from vdc_bench.leaderboard.schema import DIMENSIONS, Entry, Score, mean_of_dimensions
from vdc_bench.records import (
    DimensionScores,
    OverallScores,
    ProtocolInfo,
    RunSummary,
    ScoresDocument,
    read_json_file,
)
from vdc_bench.runs.lmms_runner import find_run
from vdc_bench.runs.run_summary import summarize_run
from vdc_bench.runs.sweep import SWEEP_FILE, load_sweep
from vdc_bench.scoring.score_files import SCORES_NAME

DEMO_NOTE = "demo, tiny random model"
RANDOM_WEIGHTS_NOTE = "demo: random weights, not a result"


def _score(block: DimensionScores | None) -> Score:
    if block is None:
        return Score(acc=None, score=None)
    return Score(acc=block.acc, score=block.score, acc_ci=block.acc_ci95, score_ci=block.score_ci95, n=block.n_videos)


def _average(block: OverallScores | None) -> Score:
    if block is None:
        return Score(acc=None, score=None)
    return Score(acc=block.acc, score=block.score, acc_ci=block.acc_ci95, score_ci=block.score_ci95)


def stable_id(kind: str, results_path: str) -> str:
    """The same run gives the same id however its path was typed (relative, absolute, moved): the digest
    of its lmms-eval results file; the absolute path only when that file is gone."""
    path = Path(results_path)
    try:
        return f"{kind}:sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    except OSError:
        return f"{kind}:{path.resolve()}"


def _flags(judge: str, proto: ProtocolInfo | None, dims: dict[str, Score], overall: OverallScores | None) -> list[str]:
    """What keeps a row from being compared with others (shared by run and scores-file rows)."""
    flags = []
    if judge != PUBLISHED_JUDGE:
        flags.append(f"judged by {judge}, not {PUBLISHED_JUDGE}: not comparable with published rows")
    # Files written before same_prompts_as_published existed said the same with comparable_with_published.
    same_prompts = proto and (proto.same_prompts_as_published if proto.same_prompts_as_published is not None
                              else proto.comparable_with_published)
    if proto and same_prompts is False:
        flags.append(f"protocol {proto.name} uses constrained JSON: not comparable with published VDCscore")
    missing = [d for d in DIMENSIONS if dims[d].acc is None]
    if missing:
        flags.append(f"dimensions not evaluated: {', '.join(missing)}; the average covers the others only")
    judged_failures = {k: v for k, v in overall.failures.items() if v} if overall else {}
    if judged_failures:
        detail = ", ".join(f"{v} {k}" for k, v in judged_failures.items())
        flags.append(f"{detail} of {overall.n_qas} QAs, counted as no/0")
    return flags


def _protocol_label(proto: ProtocolInfo | None) -> str:
    return f"{proto.name} (prompts sha256 {(proto.prompt_sha256 or '')[:12]})" if proto else "unknown"


def _default_name(summary: RunSummary) -> str:
    """The lmms-eval model id plus the checkpoint or API model it ran (``llava_hf`` alone names no model)."""
    args = dict(part.split("=", 1) for part in summary.model_args.split(",") if "=" in part)
    target = next((args[k] for k in ("pretrained", "model", "model_version") if args.get(k)), None)
    if target and target.startswith(("/", ".", "~")):  # a local checkpoint: its folder name, not where it sat
        target = Path(target).name
    ratio = summary.token_kept_ratio
    return summary.model + (f" {target}" if target else "") + (f" ρ={ratio:g}" if ratio is not None else "")


def entry_from_summary(summary: RunSummary, name: str | None = None) -> Entry:
    if summary.scores is None:
        raise VdcBenchError(f"{summary.results_path}: this run has no VDCscore scores; score it first "
                            "(vdc-bench score) or run it without --predict_only")
    if summary.judging_failure:
        raise VdcBenchError(f"{summary.scores_path}: {summary.judging_failure}; not added to the leaderboard")
    dims = {d: _score(summary.dimension(d)) for d in DIMENSIONS}
    overall = summary.overall()
    proto = summary.protocol
    judge = summary.judge_model
    flags = _flags(judge, proto, dims, overall)
    eff = summary.efficiency
    if summary.damaged_videos:
        flags.append(f"{len(summary.damaged_videos)} captions from truncated or corrupt videos (decodable frames only)")
    if eff.failed:
        flags.append(f"{eff.failed} of {eff.captions} captions failed and count as 0")
    if eff.cached:
        flags.append(f"resumed: {eff.cached} of {eff.captions} captions' times are from an earlier, killed process")
    if summary.config.get("limit") is not None:
        flags.append(f"subset: lmms-eval --limit {summary.config['limit']} per dimension")
    ratio = summary.token_kept_ratio
    # Random weights are never a real run, whatever --kind says: unranked, beside the demo rows.
    kind = "demo" if summary.kind == "demo" or summary.random_weights else "run"
    if summary.random_weights and summary.kind != "demo":
        flags.append("the checkpoint carries the random-weights marker: its numbers are not results of any model")
    return Entry(
        id=stable_id(kind, summary.results_path),
        model=name or _default_name(summary),
        kind=kind,
        frames=round(eff.frames_per_video) if eff.frames_per_video else None,
        tokens_per_frame=eff.visual_tokens_per_frame,
        tokens_per_frame_kind="measured",
        judge_model=judge,
        protocol=_protocol_label(proto),
        dimensions=dims,
        average=_average(overall),
        computed_average=mean_of_dimensions(dims),
        source=str(Path(summary.scores_path or summary.results_path).resolve()),
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
            # every task's lmms-eval metrics of this run (standard tasks beside VDC), as the summary holds them
            "task_metrics": {task: tm.to_dict() for task, tm in summary.task_metrics.items()},
        },
        note=(DEMO_NOTE if summary.kind == "demo" else RANDOM_WEIGHTS_NOTE) if kind == "demo" else "",
    )


def _read_scores(path: Path) -> ScoresDocument:
    raw = read_json_file(path)
    if not isinstance(raw, dict) or not str(raw.get("schema", "")).startswith("vdc-bench.scores/"):
        raise VdcBenchError(f"{path}: not a vdc-bench scores file (no 'schema': 'vdc-bench.scores/...')")
    return ScoresDocument.from_dict(raw, str(path))


def entry_from_scores(path: Path, name: str, kind: str = "run") -> Entry:
    """A row from a scores JSON alone: the model is ``name``; frames and tokens per frame are unknown."""
    doc = _read_scores(path)
    failure = doc.judging_failure()
    if failure:
        raise VdcBenchError(f"{path}: {failure}; not added to the leaderboard")
    dims = {d: _score(doc.dimensions.get(d)) for d in DIMENSIONS}
    overall = doc.vdcscore
    judge = doc.judge.model
    flags = _flags(judge, doc.protocol, dims, overall)
    failed_captions = doc.counts.get("generation_failed")
    if failed_captions:
        flags.append(f"{failed_captions} of {doc.counts.get('captions')} captions failed and count as 0")
    return Entry(
        id=f"{kind}:{path.resolve()}",
        model=name,
        kind=kind,
        frames=None,
        tokens_per_frame=None,
        tokens_per_frame_kind="nominal",
        judge_model=judge,
        protocol=_protocol_label(doc.protocol),
        dimensions=dims,
        average=_average(overall),
        computed_average=mean_of_dimensions(dims),
        source=str(path),
        date=doc.created_utc[:10],
        flags=flags,
        run_config={"inputs": doc.inputs, "judge": doc.judge.to_dict(), "versions": doc.versions},
        note=DEMO_NOTE if kind == "demo" else "",
    )


def _run_dir_of(scores: Path) -> Path | None:
    """The lmms-eval run a scores file belongs to: ``vdc-bench score`` writes into ``<run>/vdcscore/``,
    the lmms-eval aggregation into ``<run>/vdcscore_<UTC>/``; ``vdc-bench score --out`` anywhere else
    records the run folder it scored among its inputs."""
    candidates = [scores.parent, scores.parent.parent]
    for raw in _read_scores(scores).inputs:
        candidates.append(Path(raw) if Path(raw).is_dir() else Path(raw).parent)
    return next((c for c in candidates if c.is_dir() and find_run(c) is not None), None)


def moved_sweep_path(recorded: str, sweep_dir: Path) -> str:
    """A path a sweep recorded, under the folder the sweep is now in: a copied or moved sweep keeps its
    rows' ids (the digest of their results files) instead of falling back to paths that no longer exist."""
    if Path(recorded).exists():
        return recorded
    parts = Path(recorded).parts
    start = next((i for i, part in enumerate(parts) if part.startswith("ratio_")), None)
    if start is None:
        return recorded
    moved = Path(sweep_dir).joinpath(*parts[start:])
    return str(moved) if moved.exists() else recorded


def summaries_from_path(path: Path, kind: str) -> list[RunSummary]:
    """Summaries of a sweep folder (one per ratio, with the kind the sweep recorded), a run folder, or a
    scores JSON of a run (both get ``kind``)."""
    path = Path(path)
    if path.is_file():
        if path.name != SCORES_NAME:
            raise VdcBenchError(f"{path}: expected a {SCORES_NAME}, a run folder or a sweep folder")
        run_dir = _run_dir_of(path)
        if run_dir is None:
            return []
        return [summarize_run(run_dir, kind=kind, scores_path=path)]
    if (path / SWEEP_FILE).is_file():
        summaries = load_sweep(path / SWEEP_FILE)[1]
        for summary in summaries:
            summary.results_path = moved_sweep_path(summary.results_path, path)
            if summary.scores_path:
                summary.scores_path = moved_sweep_path(summary.scores_path, path)
        return summaries
    if path.is_dir():
        return [summarize_run(path, kind=kind)]
    raise VdcBenchError(f"{path}: no such file or folder")


def add_results(board: Path, path: Path, kind: str | None = None, name: str | None = None,
                frames: int | None = None, tokens_per_frame: float | None = None) -> tuple[int, int]:
    """Add (or replace) the rows of ``path`` on the board file; returns (added, replaced).

    ``kind``: "demo" or "run" overrides what was recorded (a sweep records its own kind).
    ``frames``/``tokens_per_frame``: stated by the user (nominal) for a single row, replacing what
    the run measured; a scores file without its run knows neither.
    """
    summaries = summaries_from_path(path, kind=kind or "run")
    if kind:
        for summary in summaries:
            summary.kind = kind
    if summaries:
        new = [entry_from_summary(s, name if len(summaries) == 1 else None) for s in summaries]
    elif name:
        new = [entry_from_scores(Path(path), name, kind or "run")]
    else:
        raise VdcBenchError(f"{path}: these scores belong to no lmms-eval run here, so they name no model: "
                            "pass --name MODEL (and --frames/--tokens-per-frame if known)")
    if frames is not None or tokens_per_frame is not None:
        if len(new) != 1:
            raise VdcBenchError(f"{path}: --frames/--tokens-per-frame apply to a single row, not {len(new)}")
        row = new[0]
        new = [dataclasses.replace(
            row, frames=frames if frames is not None else row.frames,
            tokens_per_frame=tokens_per_frame if tokens_per_frame is not None else row.tokens_per_frame,
            tokens_per_frame_kind="nominal" if tokens_per_frame is not None else row.tokens_per_frame_kind)]
    entries, added, replaced = upsert(load_board(board), new)
    save_board(board, entries)
    return added, replaced
