"""Locate the video file of a record inside the data root, never outside it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from vdc_bench.dataset.errors import DataFormatError

# Upstream tasks try these in this order when the data gives a bare id.
FALLBACK_EXTENSIONS = (".mp4", ".MP4", ".mkv")
KNOWN_EXTENSIONS = {".mp4", ".mkv", ".mpg", ".mpeg", ".avi", ".mov", ".webm"}


def checked_relative_name(name: str, where: str) -> str:
    """``name`` as a relative path that stays inside its folder; ``where`` (file:line) goes into the error.

    The check is lexical (no symlink resolution), so a ``videos`` folder that is a symlink to
    another disk keeps working while ``../x`` and absolute paths from a data file are refused.
    """
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or ".." in path.parts or os.path.isabs(name):
        raise DataFormatError(f"{where}: video path {name!r} escapes the data root (absolute or '..')")
    return str(path)


def candidate_names(name: str) -> list[str]:
    if Path(name).suffix.lower() in KNOWN_EXTENSIONS:
        return [name]
    return [name + ext for ext in FALLBACK_EXTENSIONS]


class VideoFinder:
    """Looks names up in a fixed list of folders; each folder is listed once (1k+ stats are slow on NFS)."""

    def __init__(self, video_dirs: Sequence[Path]):
        self.video_dirs = list(video_dirs)
        self._listing: dict[Path, set[str]] = {}

    def _names(self, folder: Path) -> set[str]:
        if folder not in self._listing:
            self._listing[folder] = {e.name for e in os.scandir(folder) if e.is_file()}
        return self._listing[folder]

    def find(self, name: str) -> Path | None:
        for folder in self.video_dirs:
            for candidate in candidate_names(name):
                if "/" in candidate:
                    if (folder / candidate).is_file():
                        return folder / candidate
                elif candidate in self._names(folder):
                    return folder / candidate
        return None
