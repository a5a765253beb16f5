"""Tiny VDC data roots in every supported layout, for the dataset and task tests.

Each dimension gets its own, recognisable QA and caption text ("<dim> caption of <id>",
"<dim> question <i> about <id>"), so a test can tell whose rows a task received.
Video files are empty: the loader only checks that they exist.
"""

from __future__ import annotations

import json
from pathlib import Path

from vdc_bench.dataset.dimensions import DIMENSIONS

LAYOUTS = ("hf_nested", "hf_flat", "post_eval", "lmms_parquet")
IDS = ("vidA", "vidB-2", "vidC_3")


def caption(dim: str, vid: str) -> str:
    return f"{dim} caption of {vid}"


def qa_items(dim: str, vid: str, n: int = 3, category: bool = True) -> list[dict]:
    items = [{"question": f"{dim} question {i} about {vid}", "answer": f"{dim} answer {i}"} for i in range(n)]
    if category:
        for item in items:
            item["category"] = "object"
    return items


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_root(root: Path, layout: str, ids: tuple[str, ...] = IDS, video_ext: str = ".mp4") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if layout == "lmms_parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for dim in DIMENSIONS:
            rows = [{"video_name": vid, "caption": caption(dim, vid), "qa_list": qa_items(dim, vid)} for vid in ids]
            (root / f"{dim}_test").mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), root / f"{dim}_test" / "test-00000-of-00001.parquet")
        video_dir = root / "Test_Videos"
    else:
        nested = [{"video_id": vid, "captions": {f"{d}_caption": caption(d, vid) for d in DIMENSIONS}} for vid in ids]
        flat = [{"video_id": vid, "video_name": vid + video_ext, **{f"{d}_caption": caption(d, vid) for d in DIMENSIONS}}
                for vid in ids]
        if layout == "post_eval":
            _jsonl(root / "post_eval" / "VDC_1k_captions.jsonl", nested)
            for dim in DIMENSIONS:
                _jsonl(root / "post_eval" / f"{dim}.jsonl", [{vid: qa_items(dim, vid)} for vid in ids])
            video_dir = root / "videos"
        else:
            _jsonl(root / "VDC_1k.jsonl", nested if layout == "hf_nested" else flat)
            for dim in DIMENSIONS:
                _jsonl(root / "VDCScore_qa" / f"{dim}.jsonl", [{vid: qa_items(dim, vid, category=False)} for vid in ids])
            video_dir = root / "videos" / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    for vid in ids:
        (video_dir / (vid + video_ext)).write_bytes(b"")
    return root
