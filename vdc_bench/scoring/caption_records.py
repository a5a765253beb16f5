"""Captions to score: VDC sample records (``SampleRecord``, vdc_bench/records.py) read from lmms-eval
samples files, where each line holds one under the key ``vdc_acc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import RECORD_KEY, QAPair, SampleRecord, sample_record_of_line


@dataclass(frozen=True)
class CaptionItem:
    """One generated caption of one video for one dimension, with that dimension's reference QAs."""

    dimension: str
    video_id: str
    caption: str
    qa: tuple[QAPair, ...]
    failed: bool = False  # caption generation failed (the adapter returned "")
    error: str | None = None
    prompt_index: int | None = None

    @classmethod
    def from_record(cls, rec: SampleRecord) -> CaptionItem:
        return cls(rec.dimension, rec.video_id, rec.caption, rec.qa, rec.failed, rec.error, rec.prompt_index)


def item_from_record(rec: Mapping[str, Any], where: str = "record") -> CaptionItem:
    """A caption item from a record's JSON form, validated (errors name ``where`` and the field)."""
    return CaptionItem.from_record(SampleRecord.from_dict(rec, where))


def check_unique(items: Iterable[CaptionItem]) -> list[CaptionItem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        key = (item.dimension, item.video_id)
        if key in seen:
            raise VdcBenchError(
                f"video {item.video_id!r} appears twice for dimension {item.dimension!r}: "
                "pass the samples files of one run only"
            )
        seen.add(key)
        out.append(item)
    return out


def samples_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (an lmms-eval ``--output_path``) to their ``*samples*.jsonl`` files."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.jsonl") if "samples" in p.name)
            if not found:
                raise VdcBenchError(f"{path}: no lmms-eval samples files (*samples*.jsonl) found; run with --log_samples")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise VdcBenchError(f"{path}: no such file or directory")
    return files


def load_samples(paths: Iterable[str | Path]) -> list[CaptionItem]:
    """Caption items from lmms-eval samples JSONL files (lines without a VDC record are skipped)."""
    items: list[CaptionItem] = []
    files = samples_files(paths)
    for path in files:
        for lineno, sample in read_jsonl(path):
            rec = sample_record_of_line(sample, f"{path}:{lineno}")
            if rec is not None:
                items.append(CaptionItem.from_record(rec))
    if not items:
        names = ", ".join(str(p) for p in files)
        raise VdcBenchError(f"no VDC records (key {RECORD_KEY!r}) in {names}")
    return check_unique(items)
