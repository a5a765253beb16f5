"""Efficiency of one run, measured: per-sample ``stats`` from the samples files (INTERFACES.md §1/§3).

Every number here is aggregated from what the adapter measured per request; nothing is derived from the
nominal ratio. A VDC video gets one caption per dimension, so "per video" sums the video's captions
(seconds) or takes the visual tokens of one request (the same frames are encoded for every dimension).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any


@dataclass
class Efficiency:
    captions: int  # requests with stats (failed ones included)
    videos: int
    failed: int
    frames_per_video: float | None
    visual_tokens_per_frame: float | None  # mean over requests of (visual tokens / frames)
    visual_tokens_per_video: float | None  # mean visual tokens of one request
    prompt_tokens: float | None
    output_tokens: float | None
    truncated: int  # outputs that hit max_new_tokens
    seconds_per_caption: float | None  # video decode + preprocessing + ViT + generation of one request
    seconds_per_video: float | None  # sum over the video's captions, mean over videos
    video_decode_s: float | None
    vit_ms: float | None
    ttft_ms: float | None
    decode_tok_per_s: float | None
    peak_mem_mb: float | None  # max over requests

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Efficiency:
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return fmean(kept) if kept else None


def _tokens_per_frame(stats: Mapping[str, Any]) -> float | None:
    per_frame = stats.get("visual_tokens_per_frame")
    if isinstance(per_frame, list) and per_frame:
        return _mean(_number(v) for v in per_frame)
    tokens, frames = _number(stats.get("visual_tokens")), _number(stats.get("frames"))
    if tokens is not None and frames:
        return tokens / frames
    return _number(per_frame)


def _caption_seconds(stats: Mapping[str, Any]) -> float | None:
    """Wall time of one request: video decode + preprocessing + ViT + LLM generation (prefill and decode).

    The adapter's ``gen_s`` covers only the LLM's generate call, so the other stages are added.
    """
    gen = _number(stats.get("gen_s"))
    if gen is None:
        return None
    vit_s = (_number(stats.get("vit_ms")) or 0.0) / 1000.0
    return gen + vit_s + (_number(stats.get("decode_s")) or 0.0) + (_number(stats.get("preprocess_s")) or 0.0)


def efficiency_from_records(records: Iterable[Mapping[str, Any]]) -> Efficiency:
    """``records``: the VDC process_results records (keys ``video_id``, ``failed``, ``stats``)."""
    records = list(records)
    stats = [r.get("stats") or {} for r in records]
    ok = [s for r, s in zip(records, stats, strict=True) if not r.get("failed")]
    per_video: dict[str, list[float]] = defaultdict(list)
    for rec, st in zip(records, stats, strict=True):
        seconds = _caption_seconds(st)
        if seconds is not None:
            per_video[str(rec.get("video_id"))].append(seconds)
    peaks = [_number(s.get("peak_mem_mb")) for s in stats]
    return Efficiency(
        captions=len(records),
        videos=len({str(r.get("video_id")) for r in records}),
        failed=sum(1 for r in records if r.get("failed")),
        frames_per_video=_mean(_number(s.get("frames")) for s in ok),
        visual_tokens_per_frame=_mean(_tokens_per_frame(s) for s in ok),
        visual_tokens_per_video=_mean(_number(s.get("visual_tokens")) for s in ok),
        prompt_tokens=_mean(_number(s.get("prompt_tokens")) for s in ok),
        output_tokens=_mean(_number(s.get("output_tokens")) for s in ok),
        truncated=sum(1 for s in ok if s.get("truncated")),
        seconds_per_caption=_mean(_caption_seconds(s) for s in ok),
        seconds_per_video=_mean(sum(v) for v in per_video.values()) if per_video else None,
        video_decode_s=_mean(_number(s.get("decode_s")) for s in ok),
        vit_ms=_mean(_number(s.get("vit_ms")) for s in ok),
        ttft_ms=_mean(_number(s.get("ttft_ms")) for s in ok),
        decode_tok_per_s=_mean(_number(s.get("decode_tok_per_s")) for s in ok),
        peak_mem_mb=max((p for p in peaks if p is not None), default=None),
    )
