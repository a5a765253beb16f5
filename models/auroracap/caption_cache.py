"""Finished captions on disk, so that a run killed at any point resumes with only the missing captions.

A folder (``VDC_CAPTION_CACHE``) holds one subfolder per configuration::

    <folder>/<configuration id>/configuration.json       what the id stands for (written once, for people)
    <folder>/<configuration id>/rank<R>-<host>-<pid>.jsonl  one JSON line per finished caption

The configuration is everything besides the request that decides a caption: the checkpoint by content
(``checkpoint.fingerprint``), every model setting, the resolved numerics (dtype, device, vision path),
library versions, this package's code, and the batching where batch mates can change tokens. A request's
key adds the sample id, the visuals by content, the prompt, the generation settings and the decode path.
A caption is reused only where both match, so captions of another checkpoint, ratio or prompt never mix in.

Each process appends to a file of its own and fsyncs every line before the next caption starts, so a
kill -9 (or a crashed node) loses at most the line being written. Such a cut-short line, or any line that
does not read back, is skipped with one warning naming file:line; it can never yield a caption. Only
captions without an error are stored: a failed request is tried again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.logs import logger

ENV = "VDC_CAPTION_CACHE"
SCHEMA = "vdc-bench/caption-cache/1"
CONFIGURATION_FILE = "configuration.json"


@dataclass(frozen=True)
class CachedCaption:
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # as measured by the run that generated it


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def code_digest() -> str:
    """The AuroraCap package's source: a fixed bug or a changed default must not reuse older captions."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}  # a VDC video is captioned once per dimension: hash it once


def visual_digest(visual: Any) -> str | None:
    """A video/image file or a PIL image by content; None where it cannot be read (never cached then)."""
    if isinstance(visual, Image.Image):
        return _sha256(_canonical([visual.mode, list(visual.size)]) + visual.tobytes())
    if not isinstance(visual, (str, Path)):
        return None
    try:
        path = Path(visual).resolve()
        stat = path.stat()
        memo = (str(path), stat.st_size, stat.st_mtime_ns)
        if memo not in _FILE_DIGESTS:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(2**20):
                    digest.update(chunk)
            _FILE_DIGESTS[memo] = digest.hexdigest()
        return _FILE_DIGESTS[memo]
    except OSError:
        return None  # the captioner reports the file with a clear error


def writer_name(rank: int) -> str:
    """A file name no other process writes: rank, host and pid."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "host"
    return f"rank{rank}-{host}-{os.getpid()}"


class CaptionCache:
    """The finished captions of one configuration; ``put`` appends durably, ``get`` reads what any process wrote."""

    def __init__(self, folder: Path | str, configuration: Mapping[str, Any], writer: str) -> None:
        self.configuration = dict(configuration)
        self.id = _sha256(_canonical(self.configuration))[:20]
        self.folder = Path(folder).expanduser() / self.id
        self.folder.mkdir(parents=True, exist_ok=True)
        described = self.folder / CONFIGURATION_FILE
        if not described.is_file():
            atomic_write_text(described, json.dumps(
                {"schema": SCHEMA, "id": self.id, "configuration": self.configuration}, indent=1) + "\n")
        self.path = self.folder / f"{writer}.jsonl"
        self._fd: int | None = None
        self._entries: dict[str, CachedCaption] = {}
        for path in sorted(self.folder.glob("*.jsonl")):
            self._load(path)

    def __len__(self) -> int:
        return len(self._entries)

    def _load(self, path: Path) -> None:
        with path.open("rb") as f:
            lines = f.read().split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            entry = self._parse(raw)
            if entry is None:
                cut = number == len(lines)  # no newline after it: a write cut short (or one still going on)
                logger.warning(f"{path}:{number}: {'incomplete' if cut else 'unreadable'} caption-cache line "
                               "skipped (that caption is generated again)")
                continue
            key, caption = entry
            self._entries.setdefault(key, caption)

    def _parse(self, raw: bytes) -> tuple[str, CachedCaption] | None:
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(row, dict) or row.get("schema") != SCHEMA or row.get("configuration") != self.id:
            return None
        key, text, stats = row.get("key"), row.get("caption"), row.get("stats")
        tokens = (row.get("input_tokens"), row.get("output_tokens"))
        if not (isinstance(key, str) and isinstance(text, str) and isinstance(stats, dict)
                and all(t is None or isinstance(t, int) for t in tokens)):
            return None
        return key, CachedCaption(text, *tokens, stats=stats)

    @staticmethod
    def key(sample_id: str | None, visuals: Sequence[Any], prompt: str, generation: Mapping[str, Any]) -> str | None:
        """The request's key within a configuration; None if a visual cannot be identified (not cached)."""
        digests = [visual_digest(v) for v in visuals]
        if any(d is None for d in digests):
            return None
        return _sha256(_canonical({"sample": sample_id, "visuals": digests, "prompt": prompt,
                                   "generation": dict(generation)}))

    def get(self, key: str | None) -> CachedCaption | None:
        return None if key is None else self._entries.get(key)

    def put(self, key: str, sample_id: str | None, caption: CachedCaption) -> None:
        """Append one finished caption and fsync it (a key already stored is not written twice)."""
        if key in self._entries:
            return
        line = _canonical({"schema": SCHEMA, "configuration": self.id, "key": key, "sample": sample_id,
                           "caption": caption.text, "input_tokens": caption.input_tokens,
                           "output_tokens": caption.output_tokens, "stats": caption.stats}) + b"\n"
        fd = self._open()
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        self._entries[key] = caption

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                os.write(self._fd, b"\n")  # never glue a new line onto one a killed process cut short
            directory = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(directory)  # the new file's name survives a crash too
            finally:
                os.close(directory)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
