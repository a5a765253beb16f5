"""MSR-VTT 1k-A captioning from the original release files: loading and the defect report (the lmms-eval
run is in test_standard_tasks.py, batched with the built-in tasks)."""

from __future__ import annotations

import shutil

import pytest
from standard_fixtures import MSRVTT_IDS, write_msrvtt_copy

from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError, MissingVideosError
from vdc_bench.dataset.msrvtt import load_msrvtt_1ka, resolve_root


@pytest.fixture
def msrvtt_root(tmp_path):
    return write_msrvtt_copy(tmp_path / "msrvtt")


def test_docs_carry_all_references_and_the_video(msrvtt_root):
    docs, report = load_msrvtt_1ka(msrvtt_root)
    assert [d["video_id"] for d in docs] == list(MSRVTT_IDS.values())
    assert len(docs[0]["references"]) == 2 and docs[0]["video_path"].endswith("videos/all/video7020.mp4")
    assert report.summary() == {"root": str(msrvtt_root), "n_docs": 2, "duplicates": 0,
                                "without_references": 0, "missing_videos": 0}


def test_defects_are_reported_with_file_and_line(msrvtt_root):
    split = msrvtt_root / "MSRVTT_JSFUSION_test.csv"
    split.write_text(split.read_text() + "ret9,msr7020,video7020,again\nret10,msr1,video1,no refs\n")
    docs, report = load_msrvtt_1ka(msrvtt_root)
    assert len(docs) == 2
    assert [(d.video_id, d.lines) for d in report.duplicates] == [("video7020", [2, 4])]
    assert report.without_references == ["video1"]

    split.write_text(split.read_text() + "ret11,msr2\n")
    with pytest.raises(DataFormatError, match=r"MSRVTT_JSFUSION_test.csv:6: expected 4 fields"):
        load_msrvtt_1ka(msrvtt_root)
    split.write_text("id,video\n")
    with pytest.raises(DataFormatError, match=r"MSRVTT_JSFUSION_test.csv:1: expected the header key,vid_key,video_id,sentence"):
        load_msrvtt_1ka(msrvtt_root)


def test_missing_videos_fail_or_are_skipped(msrvtt_root, monkeypatch):
    (msrvtt_root / "videos" / "all" / "video9770.mp4").unlink()
    with pytest.raises(MissingVideosError, match=r"1 missing video\(s\): video9770"):
        load_msrvtt_1ka(msrvtt_root)
    docs, report = load_msrvtt_1ka(msrvtt_root, on_missing="skip")
    assert [d["video_id"] for d in docs] == ["video7020"] and report.missing_videos == ["video9770"]
    monkeypatch.delenv("MSRVTT_ROOT", raising=False)
    with pytest.raises(DataNotFoundError, match="set MSRVTT_ROOT"):
        resolve_root({})
    shutil.rmtree(msrvtt_root / "videos")
    (msrvtt_root / "MSRVTT_data.json").unlink()
    with pytest.raises(DataNotFoundError, match="MSRVTT_data.json, train_val_videodatainfo.json found"):
        load_msrvtt_1ka(msrvtt_root)
