"""Where vdc-bench keeps what it downloads or builds once per machine (one place for every part)."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "VDC_CACHE_DIR"


def cache_root() -> Path:
    """``$VDC_CACHE_DIR`` or ``~/.cache/vdc-bench``: demo assets, judge models, checkpoints, verdicts."""
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "vdc-bench").expanduser()
