"""Captions to score: the VDC task's per-sample record (INTERFACES.md §3) and lmms-eval samples files.

A record is ``{"video_id", "dimension", "caption", "qa": [{"question","answer","category"}...],
"failed", "error", ...}``; ``qa`` may also arrive as a JSON string. In samples JSONL files (runs made
with ``--log_samples``/``--predict_only``) it sits under the key ``vdc_acc`` of each line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError

RECORD_KEY = "vdc_acc"


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    category: str = ""


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


def _qa_pairs(raw: Any, where: str) -> tuple[QAPair, ...]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as err:
            raise VdcBenchError(f"{where}: field 'qa' is not valid JSON ({err})") from err
    if not isinstance(raw, list):
        raise VdcBenchError(f"{where}: field 'qa' must be a list of {{question, answer}} objects")
    pairs = []
    for i, qa in enumerate(raw):
        if not isinstance(qa, Mapping) or "question" not in qa or "answer" not in qa:
            raise VdcBenchError(f"{where}: qa[{i}] lacks 'question' or 'answer'")
        pairs.append(QAPair(str(qa["question"]), str(qa["answer"]), str(qa.get("category") or "")))
    return tuple(pairs)


def item_from_record(rec: Mapping[str, Any], where: str = "record") -> CaptionItem:
    for key in ("video_id", "dimension"):
        if not rec.get(key):
            raise VdcBenchError(f"{where}: missing field {key!r}")
    qa = rec.get("qa", rec.get("qa_list"))
    if qa is None:
        raise VdcBenchError(f"{where}: missing field 'qa'")
    prompt_index = rec.get("prompt_index")
    caption = str(rec.get("caption") or "")
    try:
        caption.encode("utf-8")  # JSON can spell a lone surrogate (\ud800); no judge or file can take it
    except UnicodeEncodeError as err:
        raise VdcBenchError(
            f"{where}: field 'caption' is not valid text (lone surrogate at character {err.start})"
        ) from err
    return CaptionItem(
        dimension=str(rec["dimension"]),
        video_id=str(rec["video_id"]),
        caption=caption,
        qa=_qa_pairs(qa, where),
        failed=bool(rec.get("failed", False)),
        error=rec.get("error") or None,
        prompt_index=int(prompt_index) if prompt_index is not None else None,
    )


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
            rec = sample.get(RECORD_KEY)
            if isinstance(rec, Mapping):
                items.append(item_from_record(rec, f"{path}:{lineno}"))
    if not items:
        names = ", ".join(str(p) for p in files)
        raise VdcBenchError(f"no VDC records (key {RECORD_KEY!r}) in {names}")
    return check_unique(items)
