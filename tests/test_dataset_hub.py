"""VDC_ROOT unset: annotations come from the Hub when reachable; otherwise one clear message."""

from __future__ import annotations

import huggingface_hub
import pytest
from vdc_fixtures import write_root

from vdc_bench.dataset import hub
from vdc_bench.dataset.errors import DataNotFoundError, MissingVideosError
from vdc_bench.dataset.task_docs import build_task_docs


@pytest.fixture
def online(monkeypatch, tmp_path):
    monkeypatch.delenv("VDC_ROOT", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("VDC_CACHE_DIR", str(tmp_path / "cache"))


def test_annotations_are_fetched_into_the_cache_and_loaded(online, monkeypatch, tmp_path):
    calls = []

    def fake_snapshot_download(repo_id, repo_type, allow_patterns, local_dir):
        calls.append((repo_id, repo_type, allow_patterns))
        write_root(local_dir, "hf_nested")  # what the Hub copy looks like once the videos are extracted
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    data = build_task_docs({"dimension": "camera", "source": "vdc"})
    assert calls == [("wchai/Video-Detailed-Caption", "dataset", ["VDC_1k.jsonl", "VDCScore_qa/*.jsonl"])]
    assert data.report.layout == "vdcscore_qa" and len(data.docs) == 3
    assert data.report.root.startswith(str(tmp_path / "cache"))


def test_annotations_without_videos_list_every_missing_video(online, monkeypatch):
    def annotations_only(repo_id, repo_type, allow_patterns, local_dir):
        root = write_root(local_dir, "hf_nested")
        for video in (root / "videos" / "videos").iterdir():
            video.unlink()
        return str(root)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", annotations_only)
    with pytest.raises(MissingVideosError, match="3 of 3 videos"):
        build_task_docs({"dimension": "short", "source": "vdc"})


def test_unreachable_hub_gives_the_local_copy_message(online, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(DataNotFoundError) as err:
        hub.fetch_from_hub()
    assert "Name or service not known" in str(err.value) and "Point VDC_ROOT at a local copy" in str(err.value)


def test_videos_opt_in_downloads_and_extracts_tarballs_once(online, monkeypatch, tmp_path):
    import tarfile

    source = write_root(tmp_path / "src", "hf_nested")
    seen_patterns = []

    def with_tarball(repo_id, repo_type, allow_patterns, local_dir):
        seen_patterns.append(allow_patterns)
        root = write_root(local_dir, "hf_nested")
        for video in (root / "videos" / "videos").iterdir():
            video.unlink()
        with tarfile.open(root / "videos" / "videos_1.tar.gz", "w:gz") as tar:
            tar.add(source / "videos" / "videos", arcname="videos")  # -> <root>/videos/videos/<id>.mp4
        return str(root)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", with_tarball)
    monkeypatch.setenv("VDC_HUB_VIDEOS", "1")
    data = build_task_docs({"dimension": "background", "source": "vdc"})
    assert seen_patterns[0][-1] == "videos/*.tar.gz"
    assert len(data.docs) == 3 and all("/videos/videos/" in d["video_path"] for d in data.docs)
    assert (hub.hub_cache_dir() / "videos" / "videos_1.tar.gz.extracted").exists()
