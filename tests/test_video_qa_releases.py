"""MSRVTT-QA and MSVD-QA from their original release files: loading and the defect report (the
lmms-eval run is in test_standard_tasks.py, batched with the other tasks)."""

from __future__ import annotations

import json

import pytest
from standard_fixtures import write_qa_release_copies

from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError, MissingVideosError
from vdc_bench.dataset.video_qa_releases import load_qa_release, resolve_root


@pytest.fixture
def releases(tmp_path):
    return write_qa_release_copies(tmp_path)


@pytest.mark.parametrize("dataset,video", [("msrvtt_qa", "videos/all/video7020.mp4"), ("msvd_qa", "YouTubeClips/bunny_0_5.avi")])
def test_docs_name_their_video_and_qa(releases, dataset, video):
    docs, report = load_qa_release(dataset, releases[dataset])
    assert len(docs) == 2 and docs[0]["video_path"].endswith(video)
    assert docs[0]["answer"] == "rabbit" and docs[0]["sample_key"] == f"{dataset}/{docs[0]['question_id']}"
    assert report.summary()["n_docs"] == 2


def test_defects_name_the_file_and_entry(releases):
    qa_file = releases["msrvtt_qa"] / "test_qa.json"
    entries = json.loads(qa_file.read_text())
    qa_file.write_text(json.dumps(entries + [entries[0]]))
    docs, report = load_qa_release("msrvtt_qa", releases["msrvtt_qa"])
    assert len(docs) == 2 and report.duplicate_ids == {str(entries[0]["id"]): [0, 2]}
    qa_file.write_text(json.dumps(entries + [{"id": 1, "question": "q"}]))
    with pytest.raises(DataFormatError, match=r"test_qa.json: \[2\]: expected int id and video_id"):
        load_qa_release("msrvtt_qa", releases["msrvtt_qa"])
    mapping = releases["msvd_qa"] / "youtube_mapping.txt"
    mapping.write_text("bunny_0_5 vid1\nbroken line here\n")
    with pytest.raises(DataFormatError, match=r"youtube_mapping.txt:2: expected '<clip name> vid<N>'"):
        load_qa_release("msvd_qa", releases["msvd_qa"])
    mapping.write_text("bunny_0_5 vid1\n")
    with pytest.raises(DataFormatError, match=r"\[1\]: video_id 2 has no line '<clip name> vid2'"):
        load_qa_release("msvd_qa", releases["msvd_qa"])


def test_missing_videos_fail_or_are_skipped(releases, monkeypatch):
    (releases["msvd_qa"] / "YouTubeClips" / "carphone_0_4.avi").unlink()
    with pytest.raises(MissingVideosError, match=r"1 missing video\(s\): carphone_0_4"):
        load_qa_release("msvd_qa", releases["msvd_qa"])
    docs, report = load_qa_release("msvd_qa", releases["msvd_qa"], on_missing="skip")
    assert len(docs) == 1 and report.missing_videos == ["carphone_0_4"]
    monkeypatch.delenv("MSVD_QA_ROOT", raising=False)
    with pytest.raises(DataNotFoundError, match="set MSVD_QA_ROOT"):
        resolve_root("msvd_qa", {})
