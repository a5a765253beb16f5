"""``vdc-bench data check | make-synthetic``: exit codes and what they print."""

from __future__ import annotations

import json

from vdc_fixtures import write_root

from vdc_bench.cli import main


def test_make_synthetic_then_check(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["data", "make-synthetic", "--n", "3", "--output", str(out), "--width", "32", "--height", "32",
                 "--seconds", "0.5"]) == 0
    assert main(["data", "check", "--root", str(out)]) == 0
    text = capsys.readouterr().out
    assert "main_object  post_eval          3" in text and "missing video" not in text

    (out / "videos" / "videos" / "synthetic-0-00002.mp4").unlink()
    assert main(["data", "check", "--root", str(out), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {dim: r["missing_videos"] for dim, r in report.items()} == {
        dim: ["synthetic-0-00002"] for dim in ("camera", "short", "background", "main_object", "detailed")}


def test_check_reports_defects_and_missing_dimensions(tmp_path, capsys):
    root = write_root(tmp_path / "r", "post_eval")
    (root / "post_eval" / "camera.jsonl").unlink()
    with open(root / "post_eval" / "short.jsonl", "a") as f:
        f.write(json.dumps({"vidA": []}) + "\n")
    assert main(["data", "check", "--root", str(root)]) == 1
    text = capsys.readouterr().out
    assert "camera       (no QA file)" in text
    assert "short: duplicate id vidA on lines [1, 4]" in text and "different; the last is kept" in text
    assert "short: empty QA list (not evaluated): vidA" in text


def test_check_without_a_root_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.delenv("VDC_ROOT", raising=False)
    assert main(["data", "check"]) == 2
    assert "pass --root DIR or set VDC_ROOT" in capsys.readouterr().err
