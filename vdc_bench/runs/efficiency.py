"""Efficiency of one run, measured: aggregated from the ``SampleStats`` of its sample records.

Every number here is aggregated from what the adapter measured per request; nothing is derived from the
nominal ratio. A VDC video gets one caption per dimension, so "per video" sums the video's captions
(seconds) or takes the visual tokens of one request (the same frames are encoded for every dimension).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean

from vdc_bench.records import Efficiency, SampleRecord, SampleStats


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return fmean(kept) if kept else None


def _tokens_per_frame(stats: SampleStats) -> float | None:
    if stats.visual_tokens_per_frame:
        return _mean(stats.visual_tokens_per_frame)
    if stats.visual_tokens is not None and stats.frames:
        return stats.visual_tokens / stats.frames
    return None


def _caption_seconds(stats: SampleStats) -> float | None:
    """Wall time of one request: video decode + preprocessing + ViT + LLM generation (prefill and decode).

    The adapter's ``gen_s`` covers only the LLM's generate call, so the other stages are added.
    """
    if stats.gen_s is None:
        return None
    vit_s = (stats.vit_ms or 0.0) / 1000.0
    return stats.gen_s + vit_s + (stats.decode_s or 0.0) + (stats.preprocess_s or 0.0)


def efficiency_from_records(records: Iterable[SampleRecord]) -> Efficiency:
    records = list(records)
    ok = [r.stats for r in records if not r.failed]
    per_video: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        seconds = _caption_seconds(rec.stats)
        if seconds is not None:
            per_video[rec.video_id].append(seconds)
    return Efficiency(
        captions=len(records),
        videos=len({r.video_id for r in records}),
        failed=sum(1 for r in records if r.failed),
        frames_per_video=_mean(s.frames for s in ok),
        visual_tokens_per_frame=_mean(_tokens_per_frame(s) for s in ok),
        visual_tokens_per_video=_mean(s.visual_tokens for s in ok),
        prompt_tokens=_mean(s.prompt_tokens for s in ok),
        output_tokens=_mean(s.output_tokens for s in ok),
        truncated=sum(1 for s in ok if s.truncated),
        seconds_per_caption=_mean(_caption_seconds(s) for s in ok),
        seconds_per_video=_mean(sum(v) for v in per_video.values()) if per_video else None,
        video_decode_s=_mean(s.decode_s for s in ok),
        vit_ms=_mean(s.vit_ms for s in ok),
        ttft_ms=_mean(s.ttft_ms for s in ok),
        decode_tok_per_s=_mean(s.decode_tok_per_s for s in ok),
        peak_mem_mb=max((r.stats.peak_mem_mb for r in records if r.stats.peak_mem_mb is not None), default=None),
        cached=sum(1 for r in records if r.stats.cached),
    )
