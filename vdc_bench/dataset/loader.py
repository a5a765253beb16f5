"""Build the docs of one VDC dimension from a data root, with its defects handled and reported.

Policy (deterministic, reported, never silent):
* duplicate video ids in a QA/caption source: the later record wins (as the reference scorer's
  dict update does); both line numbers are logged and kept in the report;
* ids with a GT caption but no QA: not evaluated (nothing to score against), listed;
* ids with QA but no GT caption: evaluated, ``reference_caption`` is "", listed;
* referenced videos that are absent: pre-flight error listing every one (``on_missing=error``),
  or dropped and counted (``on_missing=skip``).
Docs are ordered by video id, so every process and every run sees the same order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vdc_bench.dataset.dimensions import caption_key, check_dimension
from vdc_bench.dataset.errors import DataFormatError, MissingVideosError
from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.dataset.layouts import DimensionSource, RootLayout, detect_layout
from vdc_bench.dataset.prompts import choose_prompt
from vdc_bench.dataset.settings import DataSettings
from vdc_bench.dataset.videos import KNOWN_EXTENSIONS, VideoFinder, checked_relative_name
from vdc_bench.logs import logger


@dataclass
class Duplicate:
    video_id: str
    file: str
    lines: list[int]
    identical: bool


@dataclass
class DimensionReport:
    dimension: str
    root: str
    layout: str
    qa_file: str
    caption_file: str | None
    n_docs: int = 0
    n_qa: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    captions_without_qa: list[str] = field(default_factory=list)
    qa_without_captions: list[str] = field(default_factory=list)
    empty_qa: list[str] = field(default_factory=list)
    missing_videos: list[str] = field(default_factory=list)
    skipped_missing_videos: int = 0
    # Set by check_root: ids other dimensions have and this one has no QA for (found without a caption file too).
    only_in_other_dimensions: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts only: small enough to travel with every sample record."""
        return {
            "root": self.root,
            "layout": self.layout,
            "n_docs": self.n_docs,
            "n_qa": self.n_qa,
            "duplicate_ids": len(self.duplicates),
            "captions_without_qa": len(self.captions_without_qa),
            "qa_without_captions": len(self.qa_without_captions),
            "empty_qa": len(self.empty_qa),
            "missing_videos": len(self.missing_videos),
            "skipped_missing_videos": self.skipped_missing_videos,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Entry:
    video_id: str
    video_name: str
    qa: list[dict[str, str]] | None = None
    caption: str | None = None


@dataclass
class DimensionData:
    docs: list[dict[str, Any]]
    report: DimensionReport


def _field(obj: dict, name: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if name not in obj or obj[name] is None:
        raise DataFormatError(f"{where}: record lacks field {name!r}")
    if not isinstance(obj[name], kind):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise DataFormatError(f"{where}: field {name!r} must be {expected}, got {type(obj[name]).__name__}")
    return obj[name]


def _qa_items(items: Any, where: str) -> list[dict[str, str]]:
    if isinstance(items, str):  # parquet exports sometimes carry the list as a JSON string
        try:
            items = json.loads(items)
        except json.JSONDecodeError:
            raise DataFormatError(f"{where}: QA list is a string but not JSON") from None
    if not isinstance(items, list):
        raise DataFormatError(f"{where}: QA list must be a JSON array, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataFormatError(f"{where}: QA item {i} must be an object")
        out.append({
            "question": _field(item, "question", f"{where} (QA item {i})"),
            "answer": _field(item, "answer", f"{where} (QA item {i})"),
            "category": str(item.get("category") or ""),
        })
    return out


class _Merger:
    """Collects records by video id; the later duplicate wins and both are reported."""

    def __init__(self, file: Path):
        self.file = file
        self.seen: dict[str, tuple[int, Any]] = {}
        self.duplicates: dict[str, Duplicate] = {}

    def add(self, video_id: str, line: int, value: Any) -> None:
        if video_id in self.seen:
            first_line, first_value = self.seen[video_id]
            dup = self.duplicates.setdefault(video_id, Duplicate(video_id, str(self.file), [first_line], True))
            dup.lines.append(line)
            dup.identical = dup.identical and first_value == value
        self.seen[video_id] = (line, value)


def _read_qa_jsonl(path: Path) -> _Merger:
    merged = _Merger(path)
    for lineno, obj in read_jsonl(path):
        for video_id, items in obj.items():
            merged.add(video_id, lineno, _qa_items(items, f"{path}:{lineno}"))
    return merged


def _read_captions_jsonl(path: Path, dimension: str) -> tuple[_Merger, dict[str, str]]:
    """GT captions (nested ``captions`` dict or flat fields) and, for the flat schema, ``video_name``."""
    merged = _Merger(path)
    names: dict[str, str] = {}
    key = caption_key(dimension)
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        video_id = _field(obj, "video_id", where)
        holder = _field(obj, "captions", where, dict) if "captions" in obj else obj
        merged.add(video_id, lineno, _field(holder, key, where))
        if "video_name" in obj:
            names[video_id] = checked_relative_name(_field(obj, "video_name", where), where)
    return merged, names


def _read_parquet(path: Path) -> list[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises several unrelated types for a damaged file
        raise DataFormatError(f"{path}: unreadable parquet file ({err})") from None
    return [(i + 1, row) for i, row in enumerate(rows)]


def _entries(source: DimensionSource, dimension: str, report: DimensionReport) -> list[_Entry]:
    entries: dict[str, _Entry] = {}
    if source.layout == "lmms_parquet":
        qa, captions = _Merger(source.qa_file), _Merger(source.qa_file)
        for row_no, row in _read_parquet(source.qa_file):
            where = f"{source.qa_file}: row {row_no}"
            name = checked_relative_name(_field(row, "video_name", where), where)
            video_id = Path(name).stem if Path(name).suffix.lower() in KNOWN_EXTENSIONS else name
            qa.add(video_id, row_no, _qa_items(_field(row, "qa_list", where, (list, str)), where))
            captions.add(video_id, row_no, row.get("caption") or "")
            entries[video_id] = _Entry(video_id, name)
        report.duplicates = list(qa.duplicates.values())
    else:
        qa = _read_qa_jsonl(source.qa_file)
        captions, names = _Merger(source.qa_file), {}
        if source.caption_file is not None:
            captions, names = _read_captions_jsonl(source.caption_file, dimension)
        for video_id, (line, _) in qa.seen.items():
            # Without a video_name the id names the file: it must stay inside the root like any name.
            name = names.get(video_id) or checked_relative_name(video_id, f"{source.qa_file}:{line}")
            entries[video_id] = _Entry(video_id, name)
        report.duplicates = list(qa.duplicates.values()) + list(captions.duplicates.values())
        report.captions_without_qa = sorted(set(captions.seen) - set(qa.seen))
        if source.caption_file is not None:
            report.qa_without_captions = sorted(set(qa.seen) - set(captions.seen))
    for video_id, entry in entries.items():
        entry.qa = qa.seen[video_id][1]
        entry.caption = captions.seen.get(video_id, (0, ""))[1]
    # An empty QA list cannot be scored (no denominator): not evaluated, listed.
    report.empty_qa = sorted(k for k, e in entries.items() if not e.qa)
    return [entries[k] for k in sorted(entries) if entries[k].qa]


def log_report(report: DimensionReport) -> None:
    """Warn about every defect of a dimension (what a run drops or patches must be visible in its log)."""
    if report.caption_file is None and report.layout != "lmms_parquet":
        logger.warning(f"VDC {report.dimension}: no caption file under {report.root}: every reference_caption is "
                       "empty (vdc_oracle then equals vdc_blind)")
    for dup in report.duplicates:
        kind = "identical" if dup.identical else "DIFFERENT"
        logger.warning(f"VDC {report.dimension}: video {dup.video_id} appears on lines {dup.lines} of {dup.file} "
                       f"({kind} records); keeping the last (as the reference scorer)")
    if report.captions_without_qa:
        logger.warning(f"VDC {report.dimension}: {len(report.captions_without_qa)} video(s) have a GT caption but "
                       f"no QA and are not evaluated: {', '.join(report.captions_without_qa)}")
    if report.qa_without_captions:
        logger.warning(f"VDC {report.dimension}: {len(report.qa_without_captions)} video(s) have QA but no GT "
                       f"caption (reference_caption left empty): {', '.join(report.qa_without_captions)}")
    if report.empty_qa:
        logger.warning(f"VDC {report.dimension}: {len(report.empty_qa)} video(s) have an empty QA list and are "
                       f"not evaluated: {', '.join(report.empty_qa)}")
    if report.skipped_missing_videos:
        logger.warning(f"VDC {report.dimension}: skipping {report.skipped_missing_videos} video(s) whose file is "
                       f"missing: {', '.join(report.missing_videos)}")


def load_dimension(root: Path, dimension: str, settings: DataSettings | None = None,
                   layout: RootLayout | None = None) -> DimensionData:
    """Docs of one dimension (the fields ``lmms_tasks/vdc/task.py`` reads), after the pre-flight video check.

    Pure: defects go into the report (``log_report`` prints them); only ``on_missing=error`` raises.
    """
    settings = settings or DataSettings()
    check_dimension(dimension)
    layout = layout or detect_layout(Path(root))
    source = layout.source(dimension)
    report = DimensionReport(dimension, str(layout.root), source.layout, str(source.qa_file),
                             str(source.caption_file) if source.caption_file else None)
    entries = _entries(source, dimension, report)

    finder = VideoFinder(layout.video_dirs)
    present: list[tuple[_Entry, Path]] = []
    for entry in entries:
        path = finder.find(entry.video_name)
        if path is None:
            report.missing_videos.append(entry.video_id)
        else:
            present.append((entry, path))
    if report.missing_videos:
        if settings.on_missing == "error":
            raise MissingVideosError(
                f"{len(report.missing_videos)} of {len(entries)} videos of VDC dimension {dimension!r} are missing "
                f"(searched {', '.join(str(d) for d in layout.video_dirs) or 'no video folder'}): "
                f"{', '.join(report.missing_videos)}. Set VDC_ON_MISSING=skip to run the others; "
                f"'vdc-bench data check --root {layout.root}' lists the missing videos of every dimension."
            )
        report.skipped_missing_videos = len(report.missing_videos)

    docs = []
    for entry, path in present:
        index, prompt = choose_prompt(entry.video_id, dimension, settings.prompt_seed, settings.prompt_mode)
        docs.append({
            "sample_key": f"{dimension}/{entry.video_id}",
            "video_id": entry.video_id,
            "dimension": dimension,
            "video_path": str(path),
            "reference_caption": entry.caption or "",
            "qa_list": json.dumps(entry.qa, ensure_ascii=False),
            "prompt": prompt,
            "prompt_index": index,
            "prompt_seed": settings.prompt_seed,
            "prompt_mode": settings.prompt_mode,
        })
    report.n_docs = len(docs)
    report.n_qa = sum(len(entry.qa or []) for entry, _ in present)
    return DimensionData(docs=docs, report=report)


def load_references(root: Path, dimension: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """``{video_id: (reference caption, QA list)}`` of one dimension, videos not needed (scoring only)."""
    check_dimension(dimension)
    layout = detect_layout(Path(root))
    source = layout.source(dimension)
    report = DimensionReport(dimension, str(layout.root), source.layout, str(source.qa_file),
                             str(source.caption_file) if source.caption_file else None)
    return {e.video_id: (e.caption or "", e.qa or []) for e in _entries(source, dimension, report)}


def check_root(root: Path, settings: DataSettings | None = None) -> dict[str, DimensionReport]:
    """Pre-flight report of every dimension found under ``root`` (missing videos listed, never raised)."""
    settings = settings or DataSettings()
    check = DataSettings(root=settings.root, prompt_seed=settings.prompt_seed, prompt_mode=settings.prompt_mode,
                         on_missing="skip")
    layout = detect_layout(Path(root))
    loaded = {dim: load_dimension(root, dim, check, layout) for dim in layout.sources}
    ids = {dim: {d["video_id"] for d in data.docs} | set(data.report.missing_videos) | set(data.report.empty_qa)
           for dim, data in loaded.items()}
    everywhere = set().union(*ids.values())
    for dim, data in loaded.items():
        data.report.only_in_other_dimensions = sorted(everywhere - ids[dim])
    return {dim: data.report for dim, data in loaded.items()}
