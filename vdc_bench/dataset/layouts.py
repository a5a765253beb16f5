"""Auto-detection of the known VDC on-disk layouts under one data root.

Per dimension, the first QA source found wins (most informative first):

| layout         | QA (+ captions)                                         | videos                     |
|----------------|---------------------------------------------------------|----------------------------|
| ``post_eval``    | ``post_eval/<dim>.jsonl`` (with ``category``)            | ``videos/videos/``, ``videos/`` |
| ``vdcscore_qa``  | ``VDCScore_qa/<dim>.jsonl`` (HF Video-Detailed-Caption) | same                       |
| ``lmms_parquet`` | ``<dim>_test/*.parquet`` (``wchai/lmms_VDC_test``; caption in the row) | ``Test_Videos/``  |

GT captions for the jsonl layouts come from ``VDC_1k.jsonl`` (nested or flat schema) or
``post_eval/VDC_1k_captions.jsonl``. Videos are looked up in every video folder present, then the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.errors import DataNotFoundError

CAPTION_FILES = ("VDC_1k.jsonl", "post_eval/VDC_1k_captions.jsonl")
QA_LAYOUTS = (("post_eval", "post_eval/{dim}.jsonl"), ("vdcscore_qa", "VDCScore_qa/{dim}.jsonl"))
PARQUET_LAYOUT = ("lmms_parquet", "{dim}_test")
VIDEO_DIRS = ("videos/videos", "videos", "Test_Videos", ".")


@dataclass(frozen=True)
class DimensionSource:
    layout: str
    qa_file: Path
    caption_file: Path | None


@dataclass(frozen=True)
class RootLayout:
    root: Path
    video_dirs: tuple[Path, ...]
    sources: dict[str, DimensionSource] = field(default_factory=dict)

    def source(self, dimension: str) -> DimensionSource:
        if dimension not in self.sources:
            looked = [p.format(dim=dimension) for _, p in QA_LAYOUTS] + [f"{dimension}_test/*.parquet"]
            raise DataNotFoundError(f"{self.root}: no QA data for dimension {dimension!r} (looked for {', '.join(looked)})")
        return self.sources[dimension]


def detect_layout(root: Path) -> RootLayout:
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"VDC data root {root} does not exist or is not a directory")
    caption_file = next((root / name for name in CAPTION_FILES if (root / name).is_file()), None)
    sources: dict[str, DimensionSource] = {}
    for dim in DIMENSIONS:
        for layout, pattern in QA_LAYOUTS:
            qa_file = root / pattern.format(dim=dim)
            if qa_file.is_file():
                sources[dim] = DimensionSource(layout, qa_file, caption_file)
                break
        else:
            parquets = sorted((root / PARQUET_LAYOUT[1].format(dim=dim)).glob("*.parquet"))
            if parquets:
                # One shard is what the Hub ships; more shards would need concatenation we never saw.
                sources[dim] = DimensionSource(PARQUET_LAYOUT[0], parquets[0], parquets[0])
    if not sources:
        raise DataNotFoundError(
            f"{root}: no VDC data found. Expected one of: post_eval/<dimension>.jsonl, VDCScore_qa/<dimension>.jsonl "
            "(HF wchai/Video-Detailed-Caption, with VDC_1k.jsonl and videos/), or <dimension>_test/*.parquet "
            "(HF wchai/lmms_VDC_test, with Test_Videos/)"
        )
    video_dirs = tuple(dict.fromkeys((root / d).resolve() for d in VIDEO_DIRS if (root / d).is_dir()))
    return RootLayout(root=root, video_dirs=video_dirs, sources=sources)
