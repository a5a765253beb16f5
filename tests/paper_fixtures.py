"""Offline fixture data for every task of the ``auroracap_paper`` group, staged into one HF home.

Reuses the standard tasks' fixture copies (tests/standard_fixtures.py: real photos and clips, hand-written
references) and a VDC data root (tests/vdc_fixtures.py) whose videos are the same real clips. Returns the
environment a run needs to find them all.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from standard_fixtures import (
    VIDEOS,
    fetch_photos,
    write_image_copies,
    write_ivqa_copy,
    write_msrvtt_copy,
    write_qa_release_copies,
    write_video_copies,
)
from vdc_fixtures import write_root

from vdc_bench.dataset.hf_stage import stage_task

VIDEO_TASKS = ("vatex_test", "activitynetqa")


def write_vdc_root(root: Path, clips: Path) -> Path:
    """A VDC root (hf_nested layout) over the real demo clips."""
    ids = tuple(name.removesuffix(".mp4") for name in VIDEOS)
    write_root(root, "hf_nested", ids=ids)
    for vid in ids:
        shutil.copyfile(clips / f"{vid}.mp4", root / "videos" / "videos" / f"{vid}.mp4")
    return root


def stage_paper_data(root: Path) -> dict[str, str]:
    """Write and stage every task's data under ``root``; returns the environment that points the tasks at it."""
    home = root / "hf_home"
    copies = write_image_copies(root / "copies", fetch_photos(root / "photos"))
    video_copies, videos = write_video_copies(root / "copies")
    for task, source in {**copies, **video_copies}.items():
        stage_task(task, source, videos if task in VIDEO_TASKS else None, cache=home / "datasets", home=home)
    releases = write_qa_release_copies(root / "qa")
    return {
        "HF_HOME": str(home), "HF_DATASETS_CACHE": str(home / "datasets"),
        "MSRVTT_ROOT": str(write_msrvtt_copy(root / "msrvtt")),
        "MSRVTT_QA_ROOT": str(releases["msrvtt_qa"]), "MSVD_QA_ROOT": str(releases["msvd_qa"]),
        "IVQA_ROOT": str(write_ivqa_copy(root / "ivqa")),
        "VDC_ROOT": str(write_vdc_root(root / "vdc", videos)),
    }
