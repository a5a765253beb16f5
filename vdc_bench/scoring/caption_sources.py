"""Caption files ``vdc-bench score`` reads, recognised by their content, each turned into CaptionItems.

| format | what a file holds | QA from |
|---|---|---|
| ``samples`` | lmms-eval samples JSONL of our ``vdc``/``vdc_demo`` tasks (record under ``vdc_acc``) | the record |
| ``lmms_builtin`` | samples JSONL of lmms-eval's built-in VDC tasks, named ``*samples_<dimension>_test.jsonl``: the caption is ``filtered_resps``; the video is the metric record's ``video_name`` or, under ``--predict_only``, the video whose reference caption equals ``target`` | the data |
| ``jsonl`` | one ``{"video_id", "dimension", "caption"}`` per line | the data |
| ``aurora`` | one ``{"video_id", "captions": {"<dimension>_caption": ...}}`` per line (any subset of the five) | the data |
| ``vlmevalkit`` | VLMEvalKit's VDC prediction sheet (``.xlsx`` or ``.tsv``): columns ``video``, ``caption_type``, ``prediction``; ``breakpoint`` rows (not a VDC dimension) are skipped | the data |

"The data" is the VDC data folder (``--root`` or ``$VDC_ROOT``) or the demo set: every caption must name
a video of that dimension's QA set. Anything else stops with one line naming the file and line (or row).
Failure placeholders of the captioning tools (lmms-eval's ``[LMMS_EVAL_REQUEST_FAILED ...]``,
VLMEvalKit's ``Failed to obtain answer via API.``, an empty sheet cell) become failed generations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.videos import KNOWN_EXTENSIONS
from vdc_bench.errors import VdcBenchError
from vdc_bench.logs import logger
from vdc_bench.records import RECORD_KEY
from vdc_bench.scoring.caption_records import (
    CaptionItem,
    check_unique,
    item_from_record,
    load_samples,
    samples_files,
)

FORMATS = ("samples", "lmms_builtin", "jsonl", "aurora", "vlmevalkit")
FAILURE_PREFIXES = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]", "Failed to obtain answer via API.")
_BUILTIN_NAME = re.compile(r"samples_(" + "|".join(DIMENSIONS) + r")_test\.jsonl$")
_SHEET_COLUMNS = ("video", "caption_type", "prediction")


@dataclass(frozen=True)
class RawCaption:
    """A caption read from a file, before its QA is attached."""

    where: str  # "file:line" (or "file: row N") for error messages
    dimension: str
    caption: str
    video_id: str | None = None
    reference: str | None = None  # lmms_builtin under --predict_only: identifies the video
    missing: bool = False  # the tool produced no caption at all


class ReferenceData:
    """Reference captions and QA per dimension, read once from the data folder ``resolve_root()`` returns."""

    def __init__(self, resolve_root: Callable[[], Path]) -> None:
        self._resolve_root = resolve_root
        self._root: Path | None = None
        self._by_dim: dict[str, dict[str, tuple[str, list[dict[str, str]]]]] = {}

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = self._resolve_root()
        return self._root

    def dimension(self, dim: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
        if dim not in self._by_dim:
            from vdc_bench.dataset.loader import load_references

            self._by_dim[dim] = load_references(self.root, dim)
        return self._by_dim[dim]


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                raise VdcBenchError(f"{path}:{lineno}: not a JSON line ({err.msg})") from None


def _line_format(path: Path, obj: Any) -> str | None:
    if not isinstance(obj, Mapping):
        return None
    if isinstance(obj.get(RECORD_KEY), Mapping):
        return "samples"
    if "doc_id" in obj and ("filtered_resps" in obj or "resps" in obj):
        return "lmms_builtin"
    if isinstance(obj.get("captions"), Mapping) and "video_id" in obj:
        return "aurora"
    if {"video_id", "dimension", "caption"} <= set(obj):
        return "jsonl"
    return None


def detect_format(path: Path) -> str:
    """The format of one caption file (see the module docstring); a clear error for anything else."""
    if path.suffix.lower() in (".xlsx", ".tsv"):
        return "vlmevalkit"
    for lineno, obj in _json_lines(path):
        found = _line_format(path, obj)
        if found is None:
            keys = ", ".join(sorted(obj)[:8]) if isinstance(obj, Mapping) else type(obj).__name__
            raise VdcBenchError(
                f"{path}:{lineno}: not a caption line of any known format (found {keys}); expected an lmms-eval "
                "samples line, {video_id, dimension, caption}, {video_id, captions: {<dimension>_caption}} or a "
                "VLMEvalKit .xlsx/.tsv sheet")
        return found
    raise VdcBenchError(f"{path}: empty file, no captions")


def _caption_text(value: Any) -> str:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else ""


def _check_dimension(dim: Any, where: str) -> str:
    if dim not in DIMENSIONS:
        raise VdcBenchError(f"{where}: unknown dimension {dim!r}; expected one of {', '.join(DIMENSIONS)}")
    return str(dim)


def _read_builtin(path: Path) -> Iterator[RawCaption]:
    match = _BUILTIN_NAME.search(path.name)
    if match is None:
        raise VdcBenchError(f"{path}: an lmms-eval samples file without our VDC records; for lmms-eval's built-in "
                            "VDC tasks the name must end in samples_<dimension>_test.jsonl (as lmms-eval writes it)")
    dim = match.group(1)
    for lineno, obj in _json_lines(path):
        where = f"{path}:{lineno}"
        if _line_format(path, obj) != "lmms_builtin":
            raise VdcBenchError(f"{where}: not an lmms-eval samples line (doc_id, filtered_resps)")
        caption = _caption_text(obj.get("filtered_resps", obj.get("resps")))
        named = [v["video_name"] for v in obj.values() if isinstance(v, Mapping) and v.get("video_name")]
        target = obj.get("target")
        if not named and not isinstance(target, str):
            raise VdcBenchError(f"{where}: no video_name in the metric records and no reference caption (target)")
        yield RawCaption(where, dim, caption, video_id=str(named[0]) if named else None,
                         reference=None if named else target)


def _read_jsonl(path: Path) -> Iterator[RawCaption]:
    for lineno, obj in _json_lines(path):
        where = f"{path}:{lineno}"
        if _line_format(path, obj) != "jsonl" or not isinstance(obj["caption"], str):
            raise VdcBenchError(f"{where}: expected {{\"video_id\", \"dimension\", \"caption\": string}}")
        yield RawCaption(where, _check_dimension(obj["dimension"], where), obj["caption"], video_id=str(obj["video_id"]))


def _read_aurora(path: Path) -> Iterator[RawCaption]:
    for lineno, obj in _json_lines(path):
        where = f"{path}:{lineno}"
        if _line_format(path, obj) != "aurora":
            raise VdcBenchError(f"{where}: expected {{\"video_id\", \"captions\": {{\"<dimension>_caption\": ...}}}}")
        for key, text in obj["captions"].items():
            dim = _check_dimension(key.removesuffix("_caption") if key.endswith("_caption") else key, f"{where} key {key!r}")
            if not isinstance(text, str):
                raise VdcBenchError(f"{where}: captions.{key} must be a string")
            yield RawCaption(where, dim, text, video_id=str(obj["video_id"]))


def _read_sheet(path: Path) -> Iterator[RawCaption]:
    import pandas as pd

    if path.suffix.lower() == ".xlsx":
        try:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        except ImportError as err:
            raise VdcBenchError(f"{path}: reading .xlsx needs openpyxl ({err}); or save the sheet as .tsv") from None
    else:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in _SHEET_COLUMNS if c not in frame.columns]
    if missing:
        raise VdcBenchError(f"{path}: not a VLMEvalKit VDC prediction sheet: no column(s) {', '.join(missing)}")
    skipped = 0
    for i, row in enumerate(frame.to_dict("records")):
        where = f"{path}: row {i + 2}"  # row 1 is the header
        if row["caption_type"] == "breakpoint":
            skipped += 1
            continue
        dim = _check_dimension(row["caption_type"], where)
        video = str(row["video"]).strip()
        if not video:
            raise VdcBenchError(f"{where}: empty 'video' cell")
        text = row["prediction"]
        video_id = Path(video).stem if Path(video).suffix.lower() in KNOWN_EXTENSIONS else video
        yield RawCaption(where, dim, text, video_id=video_id, missing=not text.strip())
    if skipped:
        logger.info(f"{path}: skipped {skipped} 'breakpoint' row(s) (not one of the five VDC dimensions)")


_READERS: dict[str, Callable[[Path], Iterator[RawCaption]]] = {
    "lmms_builtin": _read_builtin, "jsonl": _read_jsonl, "aurora": _read_aurora, "vlmevalkit": _read_sheet,
}


def _video_by_reference(refs: Mapping[str, tuple[str, list]], raw: RawCaption) -> str:
    hits = [vid for vid, (caption, _) in refs.items() if caption.strip() == (raw.reference or "").strip()]
    if len(hits) != 1:
        what = "no video" if not hits else f"{len(hits)} videos ({', '.join(hits[:3])})"
        raise VdcBenchError(f"{raw.where}: its reference caption (target) matches {what} of the {raw.dimension} "
                            "data; cannot tell which video this caption is for")
    return hits[0]


def attach_qa(raws: Iterable[RawCaption], data: ReferenceData) -> list[CaptionItem]:
    """CaptionItems for captions read without QA: each video's QA comes from the VDC data."""
    items = []
    for raw in raws:
        try:
            refs = data.dimension(raw.dimension)
        except VdcBenchError as err:
            raise VdcBenchError(f"{raw.where}: captions without QA need the VDC data (--root DIR, $VDC_ROOT or "
                                f"--demo): {err}") from None
        video_id = raw.video_id or _video_by_reference(refs, raw)
        if video_id not in refs:
            raise VdcBenchError(f"{raw.where}: video {video_id!r} is not in the {raw.dimension} QA set of {data.root}")
        caption = raw.caption.strip()
        failed = raw.missing or caption.startswith(FAILURE_PREFIXES)
        error = ("no prediction" if raw.missing else caption[:200]) if failed else None
        items.append(item_from_record({"video_id": video_id, "dimension": raw.dimension, "caption": caption,
                                       "qa": refs[video_id][1], "failed": failed, "error": error}, raw.where))
    return items


def load_captions(paths: Iterable[str | Path], data: ReferenceData) -> tuple[list[CaptionItem], dict[str, str]]:
    """Caption items from files of any known format (mixed freely); also ``{file: format}``."""
    items: list[CaptionItem] = []
    formats: dict[str, str] = {}
    for path in samples_files(paths):
        fmt = formats[str(path)] = detect_format(path)
        if fmt == "samples":
            items.extend(load_samples([path]))
        else:
            items.extend(attach_qa(_READERS[fmt](path), data))
    if not items:
        raise VdcBenchError(f"no captions in {', '.join(formats)}")
    return check_unique(items), formats
