"""`vdc-bench score` on every caption format: each scores exactly like the same captions in our own
samples format; anything else stops with one line naming the file and line."""

from __future__ import annotations

import json

import pytest
from vdc_fixtures import IDS, qa_items, write_root

from vdc_bench.cli import main
from vdc_bench.dataset.dimensions import DIMENSIONS

CAPTIONS = {(d, v): f"The {d} of {v}: a cyclist {len(d) * len(v)} rides past a bakery in the rain."
            for d in DIMENSIONS for v in IDS}


@pytest.fixture
def root(tmp_path):
    return write_root(tmp_path / "root", "post_eval")


@pytest.fixture
def judge(scoring_stub, monkeypatch):
    server = scoring_stub()
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    monkeypatch.delenv("VDC_ROOT", raising=False)
    return server


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _ours(folder):
    folder.mkdir()
    for dim in DIMENSIONS:
        recs = [{"video_id": v, "dimension": dim, "caption": CAPTIONS[dim, v], "qa": qa_items(dim, v), "failed": False}
                for v in IDS]
        _jsonl(folder / f"run_samples_vdc_{dim}.jsonl", [{"doc_id": i, "vdc_acc": r} for i, r in enumerate(recs)])
    return [folder]


def _plain(folder):
    folder.mkdir()
    return [_jsonl(folder / "captions.jsonl", [{"video_id": v, "dimension": d, "caption": c}
                                               for (d, v), c in CAPTIONS.items()])]


def _aurora(folder):
    folder.mkdir()
    return [_jsonl(folder / "aurora.jsonl", [{"video_id": v, "captions": {f"{d}_caption": CAPTIONS[d, v] for d in DIMENSIONS}}
                                             for v in IDS])]


def _builtin(folder):
    """lmms-eval's built-in tasks: scored runs name the video; --predict_only runs give only the target."""
    folder.mkdir()
    files = []
    for k, dim in enumerate(DIMENSIONS):
        rows = []
        for i, v in enumerate(IDS):
            row = {"doc_id": i, "target": f"{dim} caption of {v}", "filtered_resps": [CAPTIONS[dim, v]], "doc_hash": "x"}
            if k % 2 == 0:
                row["llmms_eval_score"] = {"video_name": v, "caption": row["target"], "pred": CAPTIONS[dim, v], "score": 3}
            rows.append(row)
        files.append(_jsonl(folder / f"20260101_000000_samples_{dim}_test.jsonl", rows))
    return files


def _sheet_rows():
    rows = [{"index": i, "video": f"{v}.mp4", "caption_type": d, "question": str(qa_items(d, v)), "prediction": c}
            for i, ((d, v), c) in enumerate(CAPTIONS.items())]
    return rows + [{"index": 99, "video": "vidA.mp4", "caption_type": "breakpoint", "question": "[]", "prediction": "x"}]


def _tsv(folder):
    import pandas as pd

    folder.mkdir()
    path = folder / "Model_VDC.tsv"
    pd.DataFrame(_sheet_rows()).to_csv(path, sep="\t", index=False)
    return [path]


def _xlsx(folder):
    import pandas as pd

    pytest.importorskip("openpyxl")
    folder.mkdir()
    path = folder / "Model_VDC.xlsx"
    pd.DataFrame(_sheet_rows()).to_excel(path, index=False)
    return [path]


def _score(inputs, root, out, capsys) -> dict:
    assert main(["score", *map(str, inputs), "--root", str(root), "--no-cache", "--quiet", "--output", str(out)]) == 0
    return json.loads((out / "vdcscore_scores.json").read_text())


def _numbers(scores: dict) -> dict:
    dims = {d: (b["acc"], b["score"], b["n_qas"]) for d, b in scores["dimensions"].items()}
    return {"vdcscore": (scores["vdcscore"]["acc"], scores["vdcscore"]["score"]), "dims": dims,
            "counts": {k: scores["counts"][k] for k in ("captions", "videos", "qas", "generation_failed")}}


@pytest.mark.parametrize("write", [_plain, _aurora, _builtin, _tsv, _xlsx], ids=lambda f: f.__name__.strip("_"))
def test_each_format_scores_like_our_own_samples(write, root, judge, tmp_path, capsys):
    ours = _numbers(_score(_ours(tmp_path / "ours"), root, tmp_path / "ours_scored", capsys))
    assert ours["counts"]["captions"] == 15 and ours["counts"]["qas"] == 45
    other = _numbers(_score(write(tmp_path / "other"), root, tmp_path / "other_scored", capsys))
    assert other == ours


def test_failure_placeholders_and_empty_cells_are_failed_generations(root, judge, tmp_path, capsys):
    rows = [{"video_id": "vidA", "dimension": "short", "caption": "[LMMS_EVAL_REQUEST_FAILED after 5 retries] 500"},
            {"video_id": "vidB-2", "dimension": "short", "caption": "Failed to obtain answer via API."},
            {"video_id": "vidC_3", "dimension": "short", "caption": "A cyclist rides past a bakery."}]
    scores = _score([_jsonl(tmp_path / "c.jsonl", rows)], root, tmp_path / "out", capsys)
    assert scores["counts"]["generation_failed"] == 2 and scores["counts"]["captions"] == 3

    import pandas as pd

    sheet = tmp_path / "Model_VDC.tsv"
    pd.DataFrame([{"video": "vidA.mp4", "caption_type": "camera", "prediction": ""},
                  {"video": "vidB-2.mp4", "caption_type": "camera", "prediction": "A slow pan."}]).to_csv(
        sheet, sep="\t", index=False)
    scores = _score([sheet], root, tmp_path / "out_sheet", capsys)
    assert scores["counts"]["generation_failed"] == 1 and scores["counts"]["captions"] == 2


@pytest.mark.parametrize("name,rows,message", [
    ("odd.jsonl", [{"id": 1, "text": "a"}], "odd.jsonl:1: not a caption line of any known format"),
    ("dim.jsonl", [{"video_id": "vidA", "dimension": "short", "caption": "a"},
                   {"video_id": "vidA", "dimension": "camera_work", "caption": "a"}], "dim.jsonl:2: unknown dimension"),
    ("vid.jsonl", [{"video_id": "vidZ", "dimension": "short", "caption": "a"}], "vid.jsonl:1: video 'vidZ' is not in"),
    ("mixed.jsonl", [{"video_id": "vidA", "dimension": "short", "caption": "a"}, {"video_id": "vidB-2", "captions": {}}],
     "mixed.jsonl:2: expected"),
    ("x_samples_short_test.jsonl", [{"doc_id": 0, "target": "nobody's caption", "filtered_resps": ["a"]}],
     "x_samples_short_test.jsonl:1: its reference caption (target) matches no video"),
    ("x_samples_vdc_short.jsonl", [{"doc_id": 0, "filtered_resps": ["a"], "target": "t"}], "name must end in"),
])
def test_bad_caption_files_name_file_and_line(name, rows, message, root, judge, tmp_path, capsys):
    path = _jsonl(tmp_path / name, rows)
    assert main(["score", str(path), "--root", str(root), "--quiet", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_sheet_without_prediction_column_and_missing_data_root(judge, root, tmp_path, capsys):
    import pandas as pd

    sheet = tmp_path / "Model_VDC.tsv"
    pd.DataFrame([{"video": "vidA.mp4", "caption_type": "short"}]).to_csv(sheet, sep="\t", index=False)
    assert main(["score", str(sheet), "--root", str(root), "--quiet", "--output", str(tmp_path / "o1")]) == 2
    assert "no column(s) prediction" in capsys.readouterr().err
    plain = _plain(tmp_path / "plain")
    assert main(["score", *map(str, plain), "--quiet", "--output", str(tmp_path / "o2")]) == 2
    assert "pass --root DIR, set VDC_ROOT, or pass --demo" in capsys.readouterr().err
