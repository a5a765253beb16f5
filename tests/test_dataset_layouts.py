"""Every supported on-disk layout yields, per dimension, exactly that dimension's rows."""

from __future__ import annotations

import json

import pytest
from vdc_fixtures import IDS, LAYOUTS, caption, qa_items, write_root

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.layouts import detect_layout
from vdc_bench.dataset.loader import load_dimension


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_dimension_gets_only_its_rows(tmp_path, layout):
    root = write_root(tmp_path / layout, layout)
    expected_layout = {"hf_nested": "vdcscore_qa", "hf_flat": "vdcscore_qa"}.get(layout, layout)
    for dim in DIMENSIONS:
        data = load_dimension(root, dim)
        assert data.report.layout == expected_layout
        assert [d["video_id"] for d in data.docs] == sorted(IDS)
        for doc in data.docs:
            vid = doc["video_id"]
            assert doc["dimension"] == dim
            assert doc["sample_key"] == f"{dim}/{vid}"
            assert doc["reference_caption"] == caption(dim, vid)
            qa = json.loads(doc["qa_list"])
            assert [q["question"] for q in qa] == [q["question"] for q in qa_items(dim, vid)]
            assert all(set(q) == {"question", "answer", "category"} for q in qa)
            assert doc["video_path"].endswith(vid + ".mp4") and doc["video_path"].startswith(str(root.resolve()))


def test_post_eval_keeps_categories_and_hf_files_have_none(tmp_path):
    post = load_dimension(write_root(tmp_path / "p", "post_eval"), "camera").docs[0]
    hf = load_dimension(write_root(tmp_path / "h", "hf_flat"), "camera").docs[0]
    assert {q["category"] for q in json.loads(post["qa_list"])} == {"object"}
    assert {q["category"] for q in json.loads(hf["qa_list"])} == {""}


def test_post_eval_qa_preferred_over_hf_qa_when_both_present(tmp_path):
    root = write_root(tmp_path / "both", "hf_flat")
    write_root(root, "post_eval")
    assert detect_layout(root).source("short").layout == "post_eval"


@pytest.mark.parametrize("ext", [".MP4", ".mkv"])
def test_extension_fallback_for_bare_ids(tmp_path, ext):
    root = write_root(tmp_path / "r", "hf_nested", video_ext=ext)
    doc = load_dimension(root, "short").docs[0]
    assert doc["video_path"].endswith("vidA" + ext)


def test_flat_schema_video_name_is_used(tmp_path):
    root = write_root(tmp_path / "r", "hf_flat")
    rows = [json.loads(line) for line in (root / "VDC_1k.jsonl").read_text().splitlines()]
    rows[0]["video_name"] = "renamed.mkv"
    (root / "VDC_1k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "videos" / "videos" / "renamed.mkv").write_bytes(b"")
    docs = {d["video_id"]: d for d in load_dimension(root, "detailed").docs}
    assert docs["vidA"]["video_path"].endswith("videos/videos/renamed.mkv")


def test_parquet_qa_list_as_json_string_and_video_name_with_extension(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = write_root(tmp_path / "r", "lmms_parquet")
    rows = [{"video_name": f"{vid}.mp4", "caption": caption("short", vid), "qa_list": json.dumps(qa_items("short", vid))}
            for vid in IDS]
    pq.write_table(pa.Table.from_pylist(rows), root / "short_test" / "test-00000-of-00001.parquet")
    docs = load_dimension(root, "short").docs
    assert [d["video_id"] for d in docs] == sorted(IDS)
    assert json.loads(docs[0]["qa_list"])[0]["question"] == "short question 0 about vidA"
