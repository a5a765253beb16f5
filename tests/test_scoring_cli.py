"""`vdc-bench score`, `vdc-bench make-qa` and the lmms-eval aggregation functions, against the stub judge."""

from __future__ import annotations

import argparse
import copy
import json

import pytest

from vdc_bench.cli import main
from vdc_bench.lmms_tasks.vdc import metrics as lmms_metrics
from vdc_bench.scoring.verdict_cache import CACHE_ENV

SECRET = "sk-test-SECRET-do-not-write-0123456789"


def record(dim: str, vid: str, n_qa: int = 3, failed: bool = False) -> dict:
    return {
        "video_id": vid, "dimension": dim, "sample_key": f"{dim}/{vid}", "prompt": "Describe.", "prompt_index": 0,
        "caption": "" if failed else f"A {dim} view: a cyclist in a yellow jacket rides past a bakery in the rain.",
        "reference_caption": "", "failed": failed, "error": "video.mp4: decode error" if failed else None,
        "qa": json.dumps([{"question": f"What does the {dim} show ({i})?", "answer": "a cyclist", "category": "object"}
                          for i in range(n_qa)]),
        "stats": {},
    }


RECORDS = [record(d, f"v{v}") for d in ("camera", "background") for v in range(4)] + [record("camera", "v9", failed=True)]


def write_samples(path, records):
    path.write_text("".join(json.dumps({"doc_id": i, "vdc_acc": r, "vdc_score": r}) + "\n" for i, r in enumerate(records)))
    return path


@pytest.fixture
def judge_env(monkeypatch, scoring_stub, tmp_path):
    server = scoring_stub()
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache" / "verdicts.sqlite"))
    return server


def test_score_command_outputs_and_determinism(judge_env, tmp_path, capsys):
    run_dir = tmp_path / "lmms_out" / "model"
    run_dir.mkdir(parents=True)
    write_samples(run_dir / "20260101_000000_samples_vdc_camera.jsonl", [r for r in RECORDS if r["dimension"] == "camera"])
    write_samples(run_dir / "20260101_000000_samples_vdc_background.jsonl",
                  [r for r in RECORDS if r["dimension"] == "background"])
    assert main(["score", str(tmp_path / "lmms_out"), "--quiet", "--no-cache", "--output", str(tmp_path / "a")]) == 0
    assert main(["score", str(tmp_path / "lmms_out"), "--quiet", "--no-cache", "--output", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "vdcscore_scores.json").read_text())
    b = json.loads((tmp_path / "b" / "vdcscore_scores.json").read_text())
    for key in ("dimensions", "vdcscore", "counts", "protocol", "judge"):
        assert a[key] == b[key]  # two independent runs (no cache): identical scores
    assert (tmp_path / "a" / "vdcscore_audit.jsonl").read_text() == (tmp_path / "b" / "vdcscore_audit.jsonl").read_text()
    assert a["schema"] == "vdc-bench.scores/1"
    assert a["judge"]["base_url_host"] == f"127.0.0.1:{judge_env.port}" and a["judge"]["temperature"] == 0.0
    assert a["protocol"]["name"] == "vdcscore-v1" and len(a["protocol"]["prompt_sha256"]) == 64
    assert a["counts"]["generation_failed"] == 1 and a["counts"]["captions"] == 9
    cam = a["dimensions"]["camera"]
    assert cam["n_videos"] == 5 and cam["failures"]["generation_failed"] == 3  # the failed caption is kept, as 0
    audit = [json.loads(line) for line in (tmp_path / "a" / "vdcscore_audit.jsonl").read_text().splitlines()]
    assert len(audit) == 27
    first = audit[0]
    assert {"question", "answer", "extracted_answer", "pred", "score", "raw_call1", "raw_call2", "status"} <= set(first)
    assert "| **VDCscore** |" not in (tmp_path / "a" / "vdcscore_table.md").read_text()  # only 2 of 5 dims
    assert "| camera |" in capsys.readouterr().out


def test_paired_comparison_from_cli(judge_env, tmp_path):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    assert main(["score", str(samples), "--quiet", "--output", str(tmp_path / "a"), "--bootstrap-iters", "100"]) == 0
    other = [dict(r, caption=r["caption"] + " It is night.") for r in RECORDS]
    samples_b = write_samples(tmp_path / "t_samples_x.jsonl", other)
    assert main(["score", str(samples_b), "--quiet", "--output", str(tmp_path / "b"), "--bootstrap-iters", "100",
                 "--compare-to", str(tmp_path / "a")]) == 0
    paired = json.loads((tmp_path / "b" / "vdcscore_paired.json").read_text())
    assert paired["dimensions"]["camera"]["common"] == 5
    assert paired["vdcscore"]["acc_ci95"] is not None


def test_no_secret_in_any_output(judge_env, tmp_path):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    assert main(["score", str(samples), "--quiet", "--output", str(tmp_path / "out")]) == 0
    for path in [*(tmp_path / "out").iterdir(), *(tmp_path / "cache").iterdir()]:
        assert SECRET.encode() not in path.read_bytes(), path


def test_score_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad_samples_x.jsonl"
    bad.write_text('{"vdc_acc": {"video_id": "v", "dimension": "camera"}}\n')
    assert main(["score", str(bad), "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "m"]) == 2
    assert f"{bad}:1: missing field 'qa'" in capsys.readouterr().err


def test_lmms_aggregations_share_one_judge_run(judge_env, tmp_path, monkeypatch):
    monkeypatch.setattr(lmms_metrics, "_SCORED", {})
    monkeypatch.setattr(lmms_metrics, "_RUNS", {})
    monkeypatch.setattr(lmms_metrics, "_SETTINGS", None)
    args = argparse.Namespace(output_path=str(tmp_path / "run"))
    camera = [r for r in RECORDS if r["dimension"] == "camera"]
    acc = lmms_metrics.aggregate_acc(camera, args=args)
    calls = judge_env.total_attempts
    # 4 scorable captions with the same text and questions: each distinct request (3 QAs x 2 calls) is sent
    # once; the failed caption costs nothing
    assert calls == 2 * 3
    score = lmms_metrics.aggregate_score(copy.deepcopy(camera), args=args)  # copies, as after a gather
    assert judge_env.total_attempts == calls
    root = next((tmp_path / "run").glob("vdcscore_*"))
    doc = json.loads((root / "camera" / "vdcscore_scores.json").read_text())
    assert acc == pytest.approx(doc["dimensions"]["camera"]["acc"])
    assert score == pytest.approx(doc["dimensions"]["camera"]["score"])
    assert 0.0 <= acc <= 100.0 and 0.0 <= score <= 5.0
    lmms_metrics.aggregate_acc([r for r in RECORDS if r["dimension"] == "background"], args=args)
    combined = json.loads((root / "vdcscore_scores.json").read_text())
    assert set(combined["dimensions"]) == {"camera", "background"}
    assert combined["vdcscore"]["acc"] == pytest.approx(
        (combined["dimensions"]["camera"]["acc"] + combined["dimensions"]["background"]["acc"]) / 2)
    # A second evaluation in the same process (other captions, same dimension) gets its own folder.
    lmms_metrics.aggregate_acc([dict(r, caption=r["caption"] + " At night.") for r in camera], args=args)
    roots = sorted((tmp_path / "run").glob("vdcscore_*"))
    assert len(roots) == 2
    assert set(json.loads((roots[1] / "vdcscore_scores.json").read_text())["dimensions"]) == {"camera"}


def test_make_qa(judge_env, tmp_path):
    captions = tmp_path / "VDC_1k.jsonl"
    captions.write_text(
        json.dumps({"video_id": "nested1", "captions": {"camera_caption": "The camera pans across a harbour.",
                                                        "short_caption": "Boats in a harbour."}}) + "\n"
        + json.dumps({"video_id": "flat1", "video_name": "flat1.mp4", "camera_caption": "A static shot of a kitchen.",
                      "short_caption": "Someone cooks."}) + "\n")
    out = tmp_path / "qa"
    assert main(["make-qa", str(captions), "--output", str(out), "--dimensions", "camera", "short", "--quiet"]) == 0
    lines = [json.loads(line) for line in (out / "camera.jsonl").read_text().splitlines()]
    assert [next(iter(d)) for d in lines] == ["flat1", "nested1"]
    qa = lines[0]["flat1"]
    assert qa and all(set(p) == {"question", "answer", "category"} for p in qa)
    report = json.loads((out / "make_qa_report.json").read_text())
    assert report["counts"]["short"]["videos"] == 2 and not report["failed"]
    assert len(report["prompt"]["sha256"]) == 64


def test_json_protocol_end_to_end(judge_env, tmp_path):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS[:2])
    assert main(["score", str(samples), "--quiet", "--protocol", "vdcscore-v1-json", "--output", str(tmp_path / "j")]) == 0
    doc = json.loads((tmp_path / "j" / "vdcscore_scores.json").read_text())
    assert doc["protocol"]["name"] == "vdcscore-v1-json" and not doc["protocol"]["comparable_with_published"]
    audit = [json.loads(line) for line in (tmp_path / "j" / "vdcscore_audit.jsonl").read_text().splitlines()]
    assert all(a["status"] == "ok" and a["raw_call2"][0].startswith('{"pred"') for a in audit)
    assert all(a["extracted_answer"] and not a["extracted_answer"].startswith("{") for a in audit)
