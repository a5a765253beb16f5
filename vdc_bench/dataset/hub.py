"""Fetch the VDC annotations from the Hugging Face Hub when no local copy is configured.

Only the annotation files are fetched (a few MB). The videos are ~80 GB of tarballs
(``videos/videos_{1,2,3}.tar.gz``); the pre-flight check lists them as missing until they are
extracted under ``<root>/videos/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from vdc_bench.dataset.errors import DataNotFoundError
from vdc_bench.dataset.settings import cache_dir

HUB_REPO = "wchai/Video-Detailed-Caption"
HUB_FILES = ["VDC_1k.jsonl", "VDCScore_qa/*.jsonl"]


def hub_cache_dir() -> Path:
    return cache_dir() / "hub" / "Video-Detailed-Caption"


def _offline_message(reason: str) -> str:
    return (
        f"VDC_ROOT is not set and the Hugging Face Hub is not reachable ({reason}). Point VDC_ROOT at a local "
        "copy of the benchmark: a folder with VDC_1k.jsonl + VDCScore_qa/<dimension>.jsonl (or post_eval/<dimension>.jsonl) "
        "+ videos/, or the lmms_VDC_test folders <dimension>_test/*.parquet + Test_Videos/. "
        "For an offline smoke test use the tasks vdc_demo instead."
    )


def fetch_annotations() -> Path:
    """Download the annotation files into the cache (reused when present) and return that root."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get("HF_DATASETS_OFFLINE", "0") not in ("", "0"):
        raise DataNotFoundError(_offline_message("HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set"))
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(HUB_REPO, repo_type="dataset", allow_patterns=HUB_FILES, local_dir=hub_cache_dir())
    except Exception as err:  # network, auth and hub errors all mean the same thing to the user here
        raise DataNotFoundError(_offline_message(f"{type(err).__name__}: {err}")) from None
    return Path(local)
