"""Entry point used by the lmms-eval task hooks: task spec -> ordered docs of one dimension."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vdc_bench.dataset.dimensions import check_dimension
from vdc_bench.dataset.errors import DataFormatError
from vdc_bench.dataset.loader import DimensionData, load_dimension, log_report
from vdc_bench.dataset.settings import ENV, DataSettings
from vdc_bench.logs import logger

SOURCES = ("vdc", "demo")
# A shard is a property of one job (VDC_SHARD), never of a task definition that could score a subset unnoticed.
SPEC_KEYS = {"dimension", "source", *ENV} - {"shard"}


def resolve_root(source: str, settings: DataSettings) -> Path:
    """The data root: the task's root or VDC_ROOT for ``vdc`` (else the Hub); the demo set for ``demo``."""
    if settings.root is not None:
        return settings.root
    if source == "demo":
        from vdc_bench.dataset.demo import ensure_demo_root

        return ensure_demo_root()
    from vdc_bench.dataset.hub import fetch_from_hub

    return fetch_from_hub()


def build_task_docs(spec: Mapping[str, Any]) -> DimensionData:
    """``spec``: ``{"dimension": ..., "source": "vdc"|"demo"}`` plus optional overrides (see settings.py)."""
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise DataFormatError(f"unknown key(s) {', '.join(unknown)} in a VDC task's dataset_kwargs; "
                              f"allowed: {', '.join(sorted(SPEC_KEYS))}")
    dimension = check_dimension(str(spec.get("dimension", "")))
    source = spec.get("source", "vdc")
    if source not in SOURCES:
        raise DataFormatError(f"task spec source must be one of {', '.join(SOURCES)}, got {source!r}")
    env = dict(os.environ)
    if source == "demo":
        env.pop("VDC_ROOT", None)  # VDC_ROOT names the real benchmark; the demo reads VDC_DEMO_ROOT
    settings = DataSettings.resolve(spec, env=env)
    root = resolve_root(source, settings)
    data = load_dimension(root, dimension, settings)
    log_report(data.report)
    if settings.shard is not None:
        # Strided, so every shard gets a share of each dimension; the shards together hold every doc once.
        i, n = settings.shard
        data.docs = data.docs[i::n]
        logger.info(f"VDC {dimension}: shard {i}/{n} keeps {len(data.docs)} docs")
    logger.info(f"VDC {dimension}: {len(data.docs)} docs from {root} (layout {data.report.layout})")
    return data
