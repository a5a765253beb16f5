"""Data sets released outside the Hub: the folder they live in (a task setting or an environment variable)
and what a run does about videos missing from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vdc_bench.dataset.errors import DataNotFoundError, MissingVideosError
from vdc_bench.logs import logger


def release_root(name: str, env: str, spec: dict[str, Any]) -> Path:
    """The data folder of ``name``: the task's ``root`` setting, else ``$env``; an error naming both if neither
    points at a folder."""
    root = spec.get("root") or os.environ.get(env)
    if not root:
        raise DataNotFoundError(f"{name}: no data folder; set {env} (see 'Standard benchmarks' in EVAL.md)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"{root}: {name} data folder not found ({env})")
    return root


def check_missing_videos(root: Path, missing: list[str], on_missing: str, skipping: str) -> None:
    """``on_missing="error"``: stop, naming every missing video; otherwise warn (``skipping`` leads the
    warning, e.g. ``"MSR-VTT: skipping"``) and let the run go on with the videos present."""
    if not missing:
        return
    message = f"{root}: {len(missing)} missing video(s): {', '.join(missing)}"
    if on_missing == "error":
        raise MissingVideosError(message + " (on_missing=skip runs the videos present)")
    logger.warning(f"{skipping} {message}")
