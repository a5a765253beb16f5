"""End to end: a real ``python -m lmms_eval --tasks vdc_demo --predict_only`` run (subprocess)."""

from __future__ import annotations

import pytest

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.prompts import choose_prompt
from vdc_bench.runs.lmms_runner import run_lmms_eval


@pytest.mark.slow
def test_predict_only_demo_run_logs_per_dimension_records_with_prompts(tmp_path):
    # vdc_oracle answers with the doc's reference caption: a real lmms-eval model that needs no weights.
    run = run_lmms_eval("vdc_oracle", "", ["vdc_demo"], tmp_path / "out", predict_only=True,
                        env={"HF_HOME": str(tmp_path / "hf")}, extra_args=["--verbosity", "DEBUG"], timeout=600)
    assert set(run.samples) == {f"vdc_demo_{d}" for d in DIMENSIONS}
    results = run.results()
    assert results["configs"]["vdc_demo_short"]["generation_kwargs"]["until"] == []
    for dim in DIMENSIONS:
        rows = run.read_samples(f"vdc_demo_{dim}")
        assert len(rows) == 4
        for row in rows:
            rec = row["vdc_acc"]
            assert rec == row["vdc_score"]
            assert rec["dimension"] == dim and rec["sample_key"] == f"{dim}/{rec['video_id']}"
            assert row["input"] == rec["prompt"] == choose_prompt(rec["video_id"], dim)[1]
            assert rec["prompt_index"] == choose_prompt(rec["video_id"], dim)[0]
            assert rec["caption"] == rec["reference_caption"] != ""
            assert len(rec["qa"]) == 2 and rec["failed"] is False  # the demo set has 2 QAs per caption
            assert rec["data"]["n_docs"] == 4 and rec["data"]["layout"] == "post_eval"


def _prompts(run) -> dict[str, tuple[int, str]]:
    return {s["vdc_acc"]["sample_key"]: (s["vdc_acc"]["prompt_index"], s["input"])
            for task in run.samples for s in run.read_samples(task)}


@pytest.mark.slow
def test_auroracap_demo_run_same_prompts_with_one_and_two_processes(tmp_path, model_tiny_checkpoints):
    """The real adapter on a tiny random checkpoint: 1 process vs torchrun with 2 ranks (gloo, CPU)."""
    common = dict(model_args={"pretrained": model_tiny_checkpoints["xtuner"], "num_frm": 2}, tasks=["vdc_demo"],
                  predict_only=True, gen_kwargs="max_new_tokens=4", limit=3, env={"HF_HOME": str(tmp_path / "hf")},
                  extra_args=["--verbosity", "DEBUG"], timeout=900)
    one = run_lmms_eval("auroracap", output_path=tmp_path / "one", **common)
    two = run_lmms_eval("auroracap", output_path=tmp_path / "two", nproc=2, **common)
    assert len(_prompts(one)) == 15
    assert _prompts(two) == _prompts(one)
    for task in one.samples:
        for s in one.read_samples(task):
            rec = s["vdc_acc"]
            assert rec["stats"]["frames"] == 2 and rec["stats"]["output_tokens"] <= 4  # adapter stats reach the record
            assert rec["failed"] is False
