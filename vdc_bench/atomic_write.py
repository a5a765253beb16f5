"""Writing result files so that a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from vdc_bench.errors import VdcBenchError

# mkstemp creates 0600 files; results are shared like lmms-eval's own files (0666 minus the umask).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def ensure_output_folder(path: Path, what: str = "output folder") -> Path:
    """Create ``path`` if needed and prove it takes files, before any work is done (not after hours of it)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VdcBenchError(f"{path}: the {what} is an existing file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise VdcBenchError(f"{path}: cannot write the {what} ({err.strerror or type(err).__name__})") from err
    return path


def atomic_write_text(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (or its chunks, streamed) to ``path`` via a temp file in the same folder + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines([text] if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
