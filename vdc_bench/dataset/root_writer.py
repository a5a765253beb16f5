"""Write annotations in the VDC on-disk layout, so demo and synthetic sets go through the real loader.

Written layout (the HF Video-Detailed-Caption files plus the aurora QA files with categories):
``VDC_1k.jsonl`` (flat schema, with ``video_name``), ``post_eval/<dimension>.jsonl``, ``videos/videos/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdc_bench.dataset.dimensions import DIMENSIONS, caption_key
from vdc_bench.dataset.jsonl import write_jsonl

VIDEO_SUBDIR = Path("videos") / "videos"


@dataclass
class VideoAnnotation:
    video_id: str
    file: str  # file name under videos/videos/
    captions: dict[str, str]  # dimension -> GT caption
    qa: dict[str, list[dict[str, str]]]  # dimension -> [{"question", "answer", "category"}]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoAnnotation:
        return cls(data["video_id"], data["file"], dict(data["captions"]), {d: list(v) for d, v in data["qa"].items()})


def write_vdc_root(root: Path, videos: Sequence[VideoAnnotation]) -> Path:
    """Write the caption and QA files for ``videos`` (video files are placed by the caller). Returns root."""
    root = Path(root)
    (root / VIDEO_SUBDIR).mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "VDC_1k.jsonl", [
        {"video_id": v.video_id, "video_name": v.file, **{caption_key(d): v.captions[d] for d in DIMENSIONS}}
        for v in videos
    ])
    for dim in DIMENSIONS:
        write_jsonl(root / "post_eval" / f"{dim}.jsonl", [{v.video_id: v.qa[dim]} for v in videos])
    return root
