"""How a VDC task finds and filters its data: root, prompt seed/mode, missing-video policy.

Precedence for each setting: the task's own spec (a key of the task YAML's ``dataset_kwargs``, see
``lmms_tasks/vdc_task.py``) > environment variable > default.

| setting      | env var            | default                                        |
|--------------|--------------------|------------------------------------------------|
| root         | ``VDC_ROOT``       | unset: fetch from the HF Hub (see hub.py)       |
| prompt_seed  | ``VDC_PROMPT_SEED``| 0                                              |
| prompt_mode  | ``VDC_PROMPT_MODE``| ``hash`` (or ``canonical``: always prompt 0)    |
| on_missing   | ``VDC_ON_MISSING`` | ``error`` (or ``skip``: run the videos present) |
| shard        | ``VDC_SHARD``      | unset: every doc (``i/N``: docs i, i+N, i+2N, ... of each dimension) |

The demo tasks use ``VDC_DEMO_ROOT`` (default ``~/.cache/vdc-bench/demo``) instead of ``VDC_ROOT``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vdc_bench.cache_root import cache_root
from vdc_bench.dataset.errors import DataFormatError
from vdc_bench.dataset.prompts import PROMPT_MODES

ON_MISSING = ("error", "skip")
ENV = {"root": "VDC_ROOT", "prompt_seed": "VDC_PROMPT_SEED", "prompt_mode": "VDC_PROMPT_MODE", "on_missing": "VDC_ON_MISSING",
       "shard": "VDC_SHARD"}


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> (i, N) with 0 <= i < N."""
    index, _, count = str(text).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise DataFormatError(f"shard must look like i/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise DataFormatError(f"shard {text!r}: need 0 <= i < N")
    return i, n


@dataclass(frozen=True)
class DataSettings:
    root: Path | None = None
    prompt_seed: int = 0
    prompt_mode: str = "hash"
    on_missing: str = "error"
    shard: tuple[int, int] | None = None  # (i, N): every N-th doc from the i-th, for independent cluster jobs

    def __post_init__(self) -> None:
        if self.prompt_mode not in PROMPT_MODES:
            raise DataFormatError(f"prompt_mode must be one of {', '.join(PROMPT_MODES)}, got {self.prompt_mode!r}")
        if self.on_missing not in ON_MISSING:
            raise DataFormatError(f"on_missing must be one of {', '.join(ON_MISSING)}, got {self.on_missing!r}")

    @classmethod
    def resolve(cls, spec: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> DataSettings:
        """Merge a task spec over the environment over the defaults."""
        spec = spec or {}
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            value = spec.get(name)
            if value in (None, ""):
                value = env.get(var) or None
            if value is not None:
                values[name] = value
        if "root" in values:
            values["root"] = Path(values["root"]).expanduser()
        if "prompt_seed" in values:
            try:
                values["prompt_seed"] = int(values["prompt_seed"])
            except ValueError:
                raise DataFormatError(f"prompt_seed must be an integer, got {values['prompt_seed']!r}") from None
        if "shard" in values:
            values["shard"] = parse_shard(values["shard"])
        return cls(**values)


def cache_dir() -> Path:
    """Root of vdc-bench's download caches (demo assets, Hub annotations): ``VDC_CACHE_DIR`` or ``~/.cache/vdc-bench``."""
    return cache_root()
