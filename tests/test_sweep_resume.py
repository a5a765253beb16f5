"""Sweep: resume after a kill without repeating finished ratios; configuration checks."""

from __future__ import annotations

import json

import pytest

from vdc_bench.errors import VdcBenchError
from vdc_bench.runs.sweep import DONE_FILE, SWEEP_FILE, SweepConfig, load_sweep, ratio_dir, run_sweep


@pytest.mark.slow
def test_killed_sweep_resumes_without_repeating_the_finished_ratio(report_sweep_run):
    out = report_sweep_run["output"]
    first = out / "ratio_0.1"
    after = {str(p.relative_to(first)): (p.stat().st_mtime_ns, p.stat().st_size)
             for p in first.rglob("*") if p.is_file()}
    # Not one file of the finished ratio was rewritten or added: no generation, no judging, no summary.
    assert after == report_sweep_run["first_before"]
    assert "ρ=0.1: already done" in report_sweep_run["resume_log"]
    for ratio in report_sweep_run["ratios"]:
        assert (ratio_dir(out, ratio) / DONE_FILE).is_file()
    doc, points = load_sweep(out / SWEEP_FILE)
    assert [p.token_kept_ratio for p in points] == [0.1, 0.5, 1.0]
    assert all(p.kind == "demo" for p in points)


@pytest.mark.slow
def test_sweep_collects_measured_cost_and_paired_differences(report_sweep_run):
    sweep, points = load_sweep(report_sweep_run["output"] / SWEEP_FILE)
    doc = sweep.to_dict()
    tokens = [p.efficiency.visual_tokens_per_frame for p in points]
    # Measured by the adapter: fewer tokens per frame at lower ratios; the tiny ViT has 4x4 patches.
    assert tokens[0] < tokens[1] < tokens[2] == 16
    for p in points:
        assert p.efficiency.frames_per_video == 2
        assert p.efficiency.seconds_per_video > 0
        assert p.efficiency.captions == 10  # --limit 2 per dimension x 5 dimensions
        assert p.runtime == {"dtype": "float32", "device": "cpu", "decode": "hf", "processes": 1, "max_batch_size": 1}
        assert p.judge_model == "stub-judge"
        assert p.judge_usage.calls > 0
        assert set(p.scores.dimensions) == {"camera", "short", "background", "main_object", "detailed"}
        assert p.overall().acc_ci95 is not None
    pairs = [(d["a"], d["b"]) for d in doc["paired"]]
    assert pairs == [(0.5, 0.1), (1.0, 0.5)]
    assert doc["paired"][0]["comparison"]["vdcscore"]["n_dimensions"] == 5
    assert (report_sweep_run["output"] / "report.html").is_file()


@pytest.mark.slow
def test_rerun_with_another_configuration_is_refused(report_sweep_run):
    done = json.loads((report_sweep_run["output"] / "ratio_0.1" / DONE_FILE).read_text())
    config = SweepConfig(output=report_sweep_run["output"], ratios=[0.1], model="auroracap",
                         model_args=done["fingerprint"]["model_args"].replace("num_frm=2", "num_frm=3")
                         .replace(",token_kept_ratio=0.1", ""), tasks=["vdc_demo"], limit=2,
                         gen_kwargs="max_new_tokens=8", progress=False)
    with pytest.raises(VdcBenchError, match="different configuration"):
        run_sweep(config)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratios": [0.0, 0.5]}, "outside"),
        ({"ratios": [0.5, 1.5]}, "outside"),
        ({"ratios": [0.5, 0.5]}, "repeat"),
        ({"ratios": []}, "no ratios"),
        ({"model_args": "pretrained=x,token_kept_ratio=0.2"}, "token_kept_ratio"),
        ({"model_args": "pretrained=x,token_merge_ratio=0.2"}, "token_merge_ratio"),
        ({"kind": "published"}, "kind"),
    ],
)
def test_sweep_config_rejects_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(VdcBenchError, match=message):
        SweepConfig(output=tmp_path, **kwargs)


def test_model_args_get_the_ratio_appended(tmp_path):
    config = SweepConfig(output=tmp_path, model_args="pretrained=/ckpt,num_frm=4")
    assert config.model_args_for(0.2) == "pretrained=/ckpt,num_frm=4,token_kept_ratio=0.2"
    assert SweepConfig(output=tmp_path).model_args_for(1.0) == "token_kept_ratio=1"


def test_the_judge_from_the_environment_is_part_of_the_fingerprint(tmp_path, monkeypatch):
    config = SweepConfig(output=tmp_path)
    monkeypatch.delenv("VDC_JUDGE_MODEL", raising=False)
    plain = config.fingerprint(0.4)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "smollm2-135m")
    assert config.fingerprint(0.4) != plain
    assert config.fingerprint(0.4)["judge"]["VDC_JUDGE_MODEL"] == "smollm2-135m"
