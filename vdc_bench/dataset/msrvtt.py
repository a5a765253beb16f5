"""MSR-VTT captioning on the 1k-A test split (JSFusion), read from the original release files.

A local copy (``MSRVTT_ROOT`` or the task's ``dataset_kwargs.root``) holds:

* ``MSRVTT_JSFUSION_test.csv``: the 1k-A split, header ``key,vid_key,video_id,sentence``, one row per
  test video (``video_id`` like ``video7020``; ``sentence`` is the retrieval query, not used here);
* ``MSRVTT_data.json`` (or the original ``train_val_videodatainfo.json``; the 1k-A videos come from
  train/val): ``{"videos": [{"video_id": ...}, ...], "sentences": [{"video_id", "caption", "sen_id"}, ...]}``,
  all 20 reference captions of each video;
* the videos: ``videos/all/<video_id>.mp4`` (as released) or ``videos/<video_id>.mp4``.

Defects are reported like VDC's: a bad CSV row or JSON entry names file:line (row) or the entry index,
duplicate ids name their lines, videos without references and missing videos are listed; missing
videos fail the run unless ``on_missing`` is ``skip``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError
from vdc_bench.dataset.loader import Duplicate
from vdc_bench.dataset.release_root import check_missing_videos, release_root
from vdc_bench.dataset.settings import ON_MISSING
from vdc_bench.dataset.videos import VideoFinder
from vdc_bench.logs import logger

ROOT_ENV = "MSRVTT_ROOT"
SPLIT_FILE = "MSRVTT_JSFUSION_test.csv"
REFERENCE_FILES = ("MSRVTT_data.json", "train_val_videodatainfo.json")
CSV_HEADER = ("key", "vid_key", "video_id", "sentence")



@dataclass
class MsrvttReport:
    root: str
    split_file: str
    reference_file: str
    n_docs: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    without_references: list[str] = field(default_factory=list)
    missing_videos: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"root": self.root, "n_docs": self.n_docs, "duplicates": len(self.duplicates),
                "without_references": len(self.without_references), "missing_videos": len(self.missing_videos)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_root(spec: dict[str, Any]) -> Path:
    return release_root("MSR-VTT", ROOT_ENV, spec)


def _split_ids(path: Path, report: MsrvttReport) -> list[str]:
    if not path.is_file():
        raise DataNotFoundError(f"{path}: 1k-A split file not found")
    seen: dict[str, list[int]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != CSV_HEADER:
            raise DataFormatError(f"{path}:1: expected the header {','.join(CSV_HEADER)}, got {header}")
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(CSV_HEADER) or not row[2].strip():
                raise DataFormatError(f"{path}:{line}: expected {len(CSV_HEADER)} fields with a video_id, got {row}")
            seen.setdefault(row[2].strip(), []).append(line)
    for vid, lines in seen.items():
        if len(lines) > 1:
            report.duplicates.append(Duplicate(vid, str(path), lines, identical=True))
    return list(seen)


def _references(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{err.lineno}: malformed JSON ({err.msg})") from None
    sentences = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(sentences, list):
        raise DataFormatError(f"{path}: expected an object with a 'sentences' list")
    refs: dict[str, list[str]] = {}
    for index, item in enumerate(sentences):
        if not (isinstance(item, dict) and isinstance(item.get("video_id"), str) and isinstance(item.get("caption"), str)):
            raise DataFormatError(f"{path}: sentences[{index}]: expected string fields video_id and caption, got {item!r}")
        refs.setdefault(item["video_id"], []).append(item["caption"])
    return refs


def load_msrvtt_1ka(root: Path, on_missing: str = "error") -> tuple[list[dict[str, Any]], MsrvttReport]:
    """Docs ``{video_id, video_path, references}`` of the 1k-A test split, and the defect report."""
    if on_missing not in ON_MISSING:
        raise DataFormatError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
    reference_file = next((root / n for n in REFERENCE_FILES if (root / n).is_file()), None)
    if reference_file is None:
        raise DataNotFoundError(f"{root}: none of {', '.join(REFERENCE_FILES)} found (the reference captions)")
    report = MsrvttReport(str(root), str(root / SPLIT_FILE), str(reference_file))
    ids = _split_ids(root / SPLIT_FILE, report)
    refs = _references(reference_file)
    finder = VideoFinder([d for d in (root / "videos" / "all", root / "videos") if d.is_dir()])
    docs = []
    for vid in ids:
        if vid not in refs:
            report.without_references.append(vid)
            continue
        video = finder.find(vid)
        if video is None:
            report.missing_videos.append(vid)
            continue
        docs.append({"video_id": vid, "video_path": str(video), "references": refs[vid]})
    report.n_docs = len(docs)
    for dup in report.duplicates:
        logger.warning(f"MSR-VTT: duplicate video id {dup.video_id} on lines {dup.lines} of {dup.file} (evaluated once)")
    if report.without_references:
        logger.warning(f"MSR-VTT: {len(report.without_references)} split video(s) without reference captions in "
                       f"{reference_file} (not evaluated): {', '.join(report.without_references)}")
    check_missing_videos(root, report.missing_videos, on_missing, "MSR-VTT: skipping")
    return docs, report
