"""VDCscore inside a real lmms-eval run (vdc_demo group, oracle captions, stub judge), then `vdc-bench score`
on the same output folder: identical numbers, zero judge calls (warm verdict cache)."""

from __future__ import annotations

import json

import pytest

from vdc_bench.cli import main
from vdc_bench.runs.lmms_runner import run_lmms_eval

pytestmark = pytest.mark.slow

DIMS = ("camera", "short", "background", "main_object", "detailed")


def test_lmms_eval_metric_and_score_command_agree(scoring_stub, tmp_path, monkeypatch):
    server = scoring_stub()
    env = {"VDC_JUDGE_BASE_URL": server.url, "VDC_JUDGE_MODEL": "stub", "VDC_VERDICT_CACHE": str(tmp_path / "v.sqlite")}
    run = run_lmms_eval("vdc_oracle", "", ["vdc_demo"], tmp_path / "out", env=env, limit=2, log_samples=True,
                        extra_args=["--verbosity", "DEBUG"])
    results = run.results()["results"]
    calls_in_run = server.total_attempts
    assert calls_in_run > 0
    root = next((tmp_path / "out").rglob("vdcscore_*/vdcscore_scores.json")).parent
    combined = json.loads((root / "vdcscore_scores.json").read_text())
    assert combined["vdcscore"]["complete"] is True
    for dim in DIMS:
        assert results[f"vdc_demo_{dim}"]["vdc_acc,none"] == pytest.approx(combined["dimensions"][dim]["acc"])
        assert results[f"vdc_demo_{dim}"]["vdc_score,none"] == pytest.approx(combined["dimensions"][dim]["score"])
    assert results["vdc_demo"]["vdc_acc,none"] == pytest.approx(combined["vdcscore"]["acc"])

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["score", str(tmp_path / "out"), "--quiet", "--output", str(tmp_path / "scored")]) == 0
    assert server.total_attempts == calls_in_run  # every verdict came from the cache
    scored = json.loads((tmp_path / "scored" / "vdcscore_scores.json").read_text())
    assert scored["dimensions"] == combined["dimensions"] and scored["vdcscore"] == combined["vdcscore"]
