"""Known data defects are handled deterministically and reported; bad input names file and line."""

from __future__ import annotations

import json

import pytest
from vdc_fixtures import qa_items, write_root

from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError, MissingVideosError
from vdc_bench.dataset.loader import check_root, load_dimension, log_report
from vdc_bench.dataset.settings import DataSettings
from vdc_bench.dataset.task_docs import build_task_docs


def _append(path, obj):
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def test_duplicate_ids_keep_the_later_record_and_report_both(tmp_path, caplog):
    root = write_root(tmp_path / "r", "post_eval")
    qa_file = root / "post_eval" / "main_object.jsonl"
    later = qa_items("main_object", "vidA", n=5)
    later[0]["answer"] = "the later answer"
    _append(qa_file, {"vidA": later})  # line 4, differs from line 1
    _append(qa_file, {"vidB-2": qa_items("main_object", "vidB-2")})  # line 5, identical to line 2
    data = load_dimension(root, "main_object")
    log_report(data.report)
    docs = {d["video_id"]: d for d in data.docs}
    assert len(data.docs) == 3
    assert json.loads(docs["vidA"]["qa_list"])[0]["answer"] == "the later answer"
    assert len(json.loads(docs["vidA"]["qa_list"])) == 5
    dups = {d.video_id: d for d in data.report.duplicates}
    assert dups["vidA"].lines == [1, 4] and dups["vidA"].identical is False
    assert dups["vidB-2"].lines == [2, 5] and dups["vidB-2"].identical is True
    assert "vidA" in caplog.text and "[1, 4]" in caplog.text
    assert data.report.summary()["duplicate_ids"] == 2


def test_captions_without_qa_are_excluded_and_qa_without_caption_kept(tmp_path):
    root = write_root(tmp_path / "r", "hf_flat")
    qa_file = root / "VDCScore_qa" / "main_object.jsonl"
    lines = qa_file.read_text().splitlines()
    qa_file.write_text("\n".join(lines[1:]) + "\n")  # drop vidA's QA (like JJshlR5WkrY upstream)
    _append(qa_file, {"vidD": qa_items("main_object", "vidD")})  # QA but no caption
    (root / "videos" / "videos" / "vidD.mp4").write_bytes(b"")
    data = load_dimension(root, "main_object")
    docs = {d["video_id"]: d for d in data.docs}
    assert set(docs) == {"vidB-2", "vidC_3", "vidD"}
    assert docs["vidD"]["reference_caption"] == ""
    assert data.report.captions_without_qa == ["vidA"]
    assert data.report.qa_without_captions == ["vidD"]
    # the other dimensions are untouched
    assert len(load_dimension(root, "camera").docs) == 3


def test_missing_videos_stop_with_the_full_list_by_default(tmp_path):
    root = write_root(tmp_path / "r", "hf_nested")
    for vid in ("vidA", "vidC_3"):
        (root / "videos" / "videos" / f"{vid}.mp4").unlink()
    with pytest.raises(MissingVideosError) as err:
        load_dimension(root, "short")
    assert "2 of 3" in str(err.value) and "vidA" in str(err.value) and "vidC_3" in str(err.value)
    assert "VDC_ON_MISSING=skip" in str(err.value)


def test_on_missing_skip_runs_the_rest_and_counts(tmp_path):
    root = write_root(tmp_path / "r", "lmms_parquet")
    (root / "Test_Videos" / "vidA.mp4").unlink()
    data = load_dimension(root, "camera", DataSettings(on_missing="skip"))
    assert [d["video_id"] for d in data.docs] == ["vidB-2", "vidC_3"]
    assert data.report.missing_videos == ["vidA"]
    assert data.report.summary()["skipped_missing_videos"] == 1


def test_check_root_lists_missing_videos_without_raising(tmp_path):
    root = write_root(tmp_path / "r", "post_eval")
    (root / "videos" / "vidB-2.mp4").unlink()
    reports = check_root(root)
    assert set(reports) == {"camera", "short", "background", "main_object", "detailed"}
    assert all(r.missing_videos == ["vidB-2"] for r in reports.values())


def test_env_setting_on_missing_skip_reaches_task_docs(tmp_path, monkeypatch):
    root = write_root(tmp_path / "r", "hf_flat")
    (root / "videos" / "videos" / "vidA.mp4").unlink()
    monkeypatch.setenv("VDC_ROOT", str(root))
    monkeypatch.setenv("VDC_ON_MISSING", "skip")
    assert len(build_task_docs({"dimension": "background", "source": "vdc"}).docs) == 2
    # a task-level spec overrides the environment
    with pytest.raises(MissingVideosError):
        build_task_docs({"dimension": "background", "source": "vdc", "on_missing": "error"})


@pytest.mark.parametrize("name", ["../outside.mp4", "/etc/passwd", "videos/../../x.mp4"])
def test_video_paths_cannot_escape_the_root(tmp_path, name):
    root = write_root(tmp_path / "r", "hf_flat")
    rows = [json.loads(line) for line in (root / "VDC_1k.jsonl").read_text().splitlines()]
    rows[1]["video_name"] = name
    (root / "VDC_1k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataFormatError, match=r"VDC_1k.jsonl:2: video path .* escapes the data root"):
        load_dimension(root, "short")


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    root = write_root(tmp_path / "r", "post_eval")
    with open(root / "post_eval" / "camera.jsonl", "a") as f:
        f.write('{"vidX": [{"question": "q", "answer": "a"}\n')
    with pytest.raises(DataFormatError, match=r"post_eval/camera.jsonl:4: malformed JSON"):
        load_dimension(root, "camera")


def test_qa_item_missing_a_field_names_file_and_line(tmp_path):
    root = write_root(tmp_path / "r", "post_eval")
    _append(root / "post_eval" / "short.jsonl", {"vidX": [{"question": "q only"}]})
    with pytest.raises(DataFormatError, match=r"short.jsonl:4 \(QA item 0\): record lacks field 'answer'"):
        load_dimension(root, "short")


def test_caption_record_missing_a_field_names_file_and_line(tmp_path):
    root = write_root(tmp_path / "r", "hf_nested")
    _append(root / "VDC_1k.jsonl", {"video_id": "vidZ", "captions": {"short_caption": "s"}})
    load_dimension(root, "short")  # the short caption is present
    with pytest.raises(DataFormatError, match=r"VDC_1k.jsonl:4: record lacks field 'camera_caption'"):
        load_dimension(root, "camera")


def test_parquet_row_missing_a_field_names_file_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = write_root(tmp_path / "r", "lmms_parquet")
    path = root / "short_test" / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist([{"video_name": "vidA", "caption": "c"}]), path)
    with pytest.raises(DataFormatError, match=r"test-00000-of-00001.parquet: row 1: record lacks field 'qa_list'"):
        load_dimension(root, "short")


def test_empty_or_unknown_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dimension(tmp_path / "nope", "short")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="no VDC data found"):
        load_dimension(tmp_path / "empty", "short")


def test_unset_root_offline_gives_one_clear_message(monkeypatch):
    monkeypatch.delenv("VDC_ROOT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as err:
        build_task_docs({"dimension": "short", "source": "vdc"})
    msg = str(err.value)
    assert "VDC_ROOT is not set" in msg and "Point VDC_ROOT at a local copy" in msg and "vdc_demo" in msg


def test_empty_qa_list_is_not_evaluated_and_reported(tmp_path):
    root = write_root(tmp_path / "r", "post_eval")
    _append(root / "post_eval" / "detailed.jsonl", {"vidC_3": []})
    data = load_dimension(root, "detailed")
    assert [d["video_id"] for d in data.docs] == ["vidA", "vidB-2"]
    assert data.report.empty_qa == ["vidC_3"] and data.report.summary()["empty_qa"] == 1


def test_task_spec_typos_are_errors(tmp_path):
    with pytest.raises(DataFormatError, match="unknown key.*on_mising"):
        build_task_docs({"dimension": "short", "source": "vdc", "root": str(tmp_path), "on_mising": "skip"})
    with pytest.raises(DataFormatError, match="unknown VDC dimension 'shrt'"):
        build_task_docs({"dimension": "shrt", "source": "vdc", "root": str(tmp_path)})
