"""One scoring run end to end: judge the captions, aggregate, write the three output files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdc_bench.records import JudgeCalls, ScoresDocument
from vdc_bench.scoring.aggregate import DEFAULT_BOOTSTRAP_ITERS, DEFAULT_BOOTSTRAP_SEED, summarize
from vdc_bench.scoring.batch_files import BatchRound
from vdc_bench.scoring.caption_records import CaptionItem
from vdc_bench.scoring.judge_client import check_reachable
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import Protocol
from vdc_bench.scoring.score_files import scores_document, write_outputs
from vdc_bench.scoring.scorer import MAX_CAPTION_CHARS, QAJudgement, judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache


@dataclass(frozen=True)
class ScoringConfig:
    protocol: Protocol
    cache_path: Path | None  # None: no verdict cache
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS
    bootstrap_seed: int = DEFAULT_BOOTSTRAP_SEED
    progress: bool = True
    batch: BatchRound | None = None  # batch mode: no HTTP, judge from the cache and this round's results


def caption_counts(items: Sequence[CaptionItem]) -> dict[str, Any]:
    by_dim: dict[str, dict[str, int]] = {}
    for item in items:
        c = by_dim.setdefault(item.dimension, {"captions": 0, "generation_failed": 0, "without_qa": 0, "qas": 0})
        c["captions"] += 1
        c["generation_failed"] += int(item.failed)
        c["without_qa"] += int(not item.qa)  # cannot be scored; listed, not silently averaged in
        c["qas"] += len(item.qa)
    return {
        "captions": len(items),
        "videos": len({item.video_id for item in items}),
        "qas": sum(c["qas"] for c in by_dim.values()),
        "generation_failed": sum(c["generation_failed"] for c in by_dim.values()),
        "without_qa": sorted(f"{i.dimension}/{i.video_id}" for i in items if not i.qa),
        # Judged as they are (an empty caption answers nothing), but listed so they are not mistaken for captions.
        # Listed, not silently judged as if they asked something (upstream files hold a few such QAs).
        "empty_qas": sorted(
            f"{i.dimension}/{i.video_id}#{n}" for i in items for n, q in enumerate(i.qa)
            if not q.question.strip() or not q.answer.strip()
        ),
        "empty_captions": sorted(f"{i.dimension}/{i.video_id}" for i in items if not i.failed and not i.caption.strip()),
        "captions_truncated": sorted(
            f"{i.dimension}/{i.video_id}" for i in items if not i.failed and len(i.caption) > MAX_CAPTION_CHARS
        ),
        "by_dimension": by_dim,
    }


def build_document(
    judgements: Sequence[QAJudgement],
    items: Sequence[CaptionItem],
    settings: JudgeSettings,
    config: ScoringConfig,
    calls: JudgeCalls | None,
    inputs: Sequence[str],
    elapsed_s: float | None,
) -> ScoresDocument:
    summary = summarize(judgements, config.bootstrap_iters, config.bootstrap_seed)
    return scores_document(summary, settings, config.protocol, calls, inputs, caption_counts(items), elapsed_s)


def score_captions(
    items: Sequence[CaptionItem],
    settings: JudgeSettings,
    config: ScoringConfig,
    out_dir: Path | None,
    inputs: Sequence[str] = (),
) -> tuple[ScoresDocument, list[QAJudgement]]:
    """Judge ``items`` and return (scores document, judgements); also write the outputs to ``out_dir``."""
    if config.batch is None:
        check_reachable(settings)
    cache = VerdictCache(config.cache_path)
    try:
        outcome = judge_items(items, settings, config.protocol, cache, progress=config.progress, batch=config.batch)
    finally:
        cache.close()
    doc = build_document(outcome.judgements, items, settings, config, outcome.calls, inputs, outcome.elapsed_s)
    if out_dir is not None:
        write_outputs(out_dir, doc, outcome.judgements)
    return doc, outcome.judgements
