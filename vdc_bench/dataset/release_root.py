"""Where a data set released outside the Hub lives: a folder named by its task setting or environment variable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vdc_bench.dataset.errors import DataNotFoundError


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
