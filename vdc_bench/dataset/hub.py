"""Fetch VDC from the Hugging Face Hub when no local copy is configured (``VDC_ROOT`` unset).

By default only the annotation files are fetched (a few MB). The videos are ~80 GB of tarballs
(``videos/videos_{1,2,3}.tar.gz``): they are fetched and extracted under ``<root>/videos/`` only
with ``VDC_HUB_VIDEOS=1``; otherwise the pre-flight check lists them as missing.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from tqdm import tqdm

from vdc_bench.dataset.errors import DataNotFoundError
from vdc_bench.dataset.settings import cache_dir

HUB_REPO = "wchai/Video-Detailed-Caption"
HUB_FILES = ["VDC_1k.jsonl", "VDCScore_qa/*.jsonl"]
HUB_VIDEO_FILES = ["videos/*.tar.gz"]
VIDEOS_ENV = "VDC_HUB_VIDEOS"


def hub_cache_dir() -> Path:
    return cache_dir() / "hub" / "Video-Detailed-Caption"


def _offline_message(reason: str) -> str:
    return (
        f"VDC_ROOT is not set and the Hugging Face Hub is not reachable ({reason}). Point VDC_ROOT at a local "
        "copy of the benchmark: a folder with VDC_1k.jsonl + VDCScore_qa/<dimension>.jsonl (or post_eval/<dimension>.jsonl) "
        "+ videos/, or the lmms_VDC_test folders <dimension>_test/*.parquet + Test_Videos/. "
        "For an offline smoke test use the tasks vdc_demo instead."
    )


def _extract_videos(root: Path) -> None:
    """Unpack each downloaded tarball once into ``root/videos/`` (a stamp per tarball makes it resumable)."""
    for archive in sorted((root / "videos").glob("*.tar.gz")):
        stamp = archive.with_name(archive.name + ".extracted")
        if stamp.exists():
            continue
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in tqdm(members, desc=f"extracting {archive.name}", unit="file"):
                tar.extract(member, root / "videos", filter="data")  # "data" refuses paths leaving the folder
        stamp.touch()


def fetch_from_hub() -> Path:
    """Download the annotations (and, with VDC_HUB_VIDEOS=1, the videos) into the cache; return that root."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get("HF_DATASETS_OFFLINE", "0") not in ("", "0"):
        raise DataNotFoundError(_offline_message("HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set"))
    with_videos = os.environ.get(VIDEOS_ENV, "0") not in ("", "0")
    try:
        from huggingface_hub import snapshot_download

        patterns = HUB_FILES + (HUB_VIDEO_FILES if with_videos else [])
        root = Path(snapshot_download(HUB_REPO, repo_type="dataset", allow_patterns=patterns, local_dir=hub_cache_dir()))
    except Exception as err:  # network, auth and hub errors all mean the same thing to the user here
        raise DataNotFoundError(_offline_message(f"{type(err).__name__}: {err}")) from None
    if with_videos:
        _extract_videos(root)
    return root
