"""MSRVTT-QA, MSVD-QA (Xu et al., ACM MM 2017) and iVQA (Yang et al., ICCV 2021) test sets, read from their
original release files.

MSRVTT-QA (``MSRVTT_QA_ROOT``):
* ``test_qa.json``: a JSON array of ``{"answer", "category_id", "id", "question", "video_id"}``, where
  ``video_id`` is the MSR-VTT number (``7010`` -> ``video7010``);
* videos from the MSR-VTT release: ``videos/all/video<N>.mp4`` or ``videos/video<N>.mp4``.

MSVD-QA (``MSVD_QA_ROOT``):
* ``test_qa.json``: a JSON array of ``{"answer", "id", "question", "video_id"}``, ``video_id`` being N of
  ``vid<N>``;
* ``youtube_mapping.txt``: one ``<clip name> vid<N>`` per line;
* videos from the MSVD release: ``YouTubeClips/<clip name>.avi`` (or ``videos/``).

iVQA (``IVQA_ROOT``), as released with Just Ask (the Just Ask repository's README: the folder holds
``train.csv``, ``val.csv``, ``test.csv`` and a ``video`` subfolder):
* ``test.csv``: a header, then one QA per row with at least the columns ``video_id`` (YouTube id),
  ``start``, ``end`` (seconds in that video), ``question``, ``answer1`` .. ``answer5`` (one per annotator);
* one clip per row: ``video/<video_id>_<start>_<end>.<ext>`` (the clip names of Just Ask's annotation pages,
  e.g. ``uiLr9bdOL0M_23_30.mp4``) or ``video/<video_id>.<ext>`` (or ``videos/``).
  The clips are used as they are, never trimmed here: Just Ask's own loader reads the whole file of each
  row and never its start/end. A file much longer than its row's span (more than 1.25 x span + 2 s) is
  taken for an untrimmed video and stops the run, since the question is about the span only.

Defects are reported like VDC's: a malformed entry names ``file: [index]`` (a mapping or CSV line names
file:line), duplicate QA ids name their entries or lines (the first is kept), missing videos are listed and
fail the run unless ``on_missing`` is ``skip``.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av

from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError
from vdc_bench.dataset.release_root import check_missing_videos, release_root
from vdc_bench.dataset.settings import ON_MISSING
from vdc_bench.dataset.videos import VideoFinder
from vdc_bench.logs import logger

QA_FILE = "test_qa.json"
MAPPING_FILE = "youtube_mapping.txt"
IVQA_FILE = "test.csv"
IVQA_COLUMNS = ("video_id", "start", "end", "question", "answer1", "answer2", "answer3", "answer4", "answer5")
IVQA_EXTENSIONS = (".mp4", ".webm", ".mkv")
ROOT_ENV = {"msrvtt_qa": "MSRVTT_QA_ROOT", "msvd_qa": "MSVD_QA_ROOT", "ivqa": "IVQA_ROOT"}


@dataclass
class QaReport:
    dataset: str
    root: str
    n_docs: int = 0
    duplicate_ids: dict[str, list[int]] = field(default_factory=dict)  # QA id -> entry indices (CSV: line numbers)
    missing_videos: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "root": self.root, "n_docs": self.n_docs,
                "duplicate_ids": len(self.duplicate_ids), "missing_videos": len(self.missing_videos)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_root(dataset: str, spec: dict[str, Any]) -> Path:
    return release_root(dataset, ROOT_ENV[dataset], spec)


def _qa_entries(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DataNotFoundError(f"{path}: QA file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path}:{err.lineno}: malformed JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON array of QA entries, got {type(data).__name__}")
    for index, entry in enumerate(data):
        ok = isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("question", "answer"))
        if not ok or not isinstance(entry.get("id"), int) or not isinstance(entry.get("video_id"), int):
            raise DataFormatError(f"{path}: [{index}]: expected int id and video_id, string question and answer, got {entry!r}")
    return list(enumerate(data))


def _msvd_names(path: Path) -> dict[int, str]:
    if not path.is_file():
        raise DataNotFoundError(f"{path}: MSVD clip-name mapping not found")
    names: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].startswith("vid") or not parts[1][3:].isdigit():
                raise DataFormatError(f"{path}:{line_no}: expected '<clip name> vid<N>', got {line.strip()!r}")
            names[int(parts[1][3:])] = parts[0]
    return names


def load_qa_release(dataset: str, root: Path, on_missing: str = "error") -> tuple[list[dict[str, Any]], QaReport]:
    """Docs ``{sample_key, question_id, question, answer, video_path}`` of ``msrvtt_qa``, ``msvd_qa`` or ``ivqa``
    (iVQA docs add ``answers``, the five annotator answers, and the clip's ``start`` and ``end``)."""
    if dataset not in ROOT_ENV:
        raise DataNotFoundError(f"unknown QA release {dataset!r}; known: {', '.join(ROOT_ENV)}")
    if on_missing not in ON_MISSING:
        raise DataFormatError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
    report = QaReport(dataset, str(root))
    if dataset == "ivqa":
        return _load_ivqa(root, on_missing, report)
    entries = _qa_entries(root / QA_FILE)
    if dataset == "msvd_qa":
        clip_names = _msvd_names(root / MAPPING_FILE)
        folders = [root / "YouTubeClips", root / "videos"]
    else:
        folders = [root / "videos" / "all", root / "videos"]
    finder = VideoFinder([d for d in folders if d.is_dir()])
    seen: dict[int, list[int]] = {}
    missing: dict[str, None] = {}
    docs = []
    for index, entry in entries:
        seen.setdefault(entry["id"], []).append(index)
        if len(seen[entry["id"]]) > 1:
            continue
        if dataset == "msvd_qa":
            name = clip_names.get(entry["video_id"])
            if name is None:
                raise DataFormatError(f"{root / QA_FILE}: [{index}]: video_id {entry['video_id']} has no line "
                                      f"'<clip name> vid{entry['video_id']}' in {root / MAPPING_FILE}")
            video = finder.find(name + ".avi") or finder.find(name)
        else:
            name = f"video{entry['video_id']}"
            video = finder.find(name)
        if video is None:
            missing[name] = None
            continue
        docs.append({"sample_key": f"{dataset}/{entry['id']}", "question_id": str(entry["id"]),
                     "question": entry["question"], "answer": entry["answer"], "video_path": str(video)})
    report.duplicate_ids = {str(k): v for k, v in seen.items() if len(v) > 1}
    report.missing_videos = list(missing)
    report.n_docs = len(docs)
    for qa_id, indices in report.duplicate_ids.items():
        logger.warning(f"{dataset}: duplicate QA id {qa_id} at entries {indices} of {root / QA_FILE} (the first is kept)")
    check_missing_videos(root, report.missing_videos, on_missing, f"{dataset}: skipping the QAs of")
    return docs, report


def _ivqa_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise DataNotFoundError(f"{path}: iVQA QA file not found")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path}:1: empty file, expected a header with {','.join(IVQA_COLUMNS)}")
        missing = [c for c in IVQA_COLUMNS if c not in header]
        if missing:
            raise DataFormatError(f"{path}:1: header lacks column(s) {','.join(missing)}")
        rows = []
        for fields in reader:
            line = reader.line_num
            if not any(v.strip() for v in fields):
                continue
            if len(fields) != len(header):
                raise DataFormatError(f"{path}:{line}: expected {len(header)} fields, got {len(fields)}")
            row = {c: v.strip() for c, v in zip(header, fields, strict=True)}
            empty = [c for c in IVQA_COLUMNS if not row[c]]
            if empty:
                raise DataFormatError(f"{path}:{line}: empty field(s) {','.join(empty)}")
            try:
                start, end = float(row["start"]), float(row["end"])
            except ValueError:
                raise DataFormatError(f"{path}:{line}: start and end must be seconds, got {row['start']!r}, {row['end']!r}") from None
            if not 0 <= start < end:
                raise DataFormatError(f"{path}:{line}: need 0 <= start < end, got start {row['start']}, end {row['end']}")
            rows.append((line, row))
    return rows


def _duration_s(path: Path) -> float | None:
    # Header only. No duration, or an unreadable file (the adapter then fails that sample, naming it): not judged.
    try:
        with av.open(str(path)) as container:
            return container.duration / av.time_base if container.duration else None
    except (av.error.FFmpegError, OSError):
        return None


def _load_ivqa(root: Path, on_missing: str, report: QaReport) -> tuple[list[dict[str, Any]], QaReport]:
    qa_file = root / IVQA_FILE
    rows = _ivqa_rows(qa_file)
    finder = VideoFinder([d for d in (root / "video", root / "videos") if d.is_dir()])
    seen: dict[str, list[int]] = {}
    missing: dict[str, None] = {}
    untrimmed = []
    docs = []
    for line, row in rows:
        qa_id = row["video_id"]
        seen.setdefault(qa_id, []).append(line)
        if len(seen[qa_id]) > 1:
            continue
        clip = f"{qa_id}_{row['start']}_{row['end']}"
        stems = dict.fromkeys((clip, f"{qa_id}_{float(row['start']):g}_{float(row['end']):g}", qa_id))  # "23.0" -> "23"
        video = next((v for stem in stems for ext in IVQA_EXTENSIONS if (v := finder.find(stem + ext))), None)
        if video is None:
            missing[clip] = None
            continue
        span = float(row["end"]) - float(row["start"])
        duration = _duration_s(video)
        if duration is not None and duration > 1.25 * span + 2:
            untrimmed.append(f"{video.name} ({duration:.1f} s, span {span:g} s at {qa_file.name}:{line})")
        answers = [row[f"answer{k}"] for k in range(1, 6)]
        docs.append({"sample_key": f"ivqa/{qa_id}", "question_id": qa_id, "question": row["question"],
                     "answer": Counter(answers).most_common(1)[0][0], "answers": answers,
                     "start": float(row["start"]), "end": float(row["end"]), "video_path": str(video)})
    if untrimmed:
        raise DataFormatError(f"{root}: {len(untrimmed)} video(s) much longer than their clip (untrimmed? the "
                              f"questions are about the start-end span; trim them): {', '.join(untrimmed)}")
    report.duplicate_ids = {k: v for k, v in seen.items() if len(v) > 1}
    report.missing_videos = list(missing)
    report.n_docs = len(docs)
    for qa_id, lines in report.duplicate_ids.items():
        logger.warning(f"ivqa: duplicate video_id {qa_id} at lines {lines} of {qa_file} (the first is kept)")
    check_missing_videos(root, report.missing_videos, on_missing, "ivqa: skipping the QAs of")
    return docs, report
