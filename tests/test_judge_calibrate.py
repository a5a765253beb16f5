"""Calibration conditions and stability statistics (pure logic), and the oracle/blind bound models."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vdc_bench import sample_stats
from vdc_bench.judge.calibrate import condition_items, stability
from vdc_bench.models.baselines import VdcBlind, VdcOracle
from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.scorer import QAJudgement

QA = (QAPair("What colour is the ball?", "Red."), QAPair("How many dogs?", "Two."))


def items() -> list[CaptionItem]:
    return [
        CaptionItem("short", "v1", "A red ball and two dogs.", QA),
        CaptionItem("short", "v2", "A cat sleeps on a sofa.", QA),
        CaptionItem("camera", "v1", "The camera pans left.", QA),
        CaptionItem("camera", "v2", "Static shot.", QA),
    ]


def test_conditions_keep_qas_and_swap_captions_within_a_dimension():
    conds = condition_items(items(), "Something happens.")
    assert set(conds) == {"oracle", "mismatched", "generic", "blind"}
    mism = {(i.dimension, i.video_id): i for i in conds["mismatched"]}
    assert mism["short", "v1"].caption == "A cat sleeps on a sofa."
    assert mism["short", "v2"].caption == "A red ball and two dogs."
    assert mism["camera", "v1"].caption == "Static shot."
    for name, group in conds.items():
        assert [(i.dimension, i.video_id, i.qa) for i in group] == [
            (i.dimension, i.video_id, i.qa) for i in items()
        ], name
    assert {i.caption for i in conds["blind"]} == {""}
    assert {i.caption for i in conds["generic"]} == {"Something happens."}


def judgement(video: str, qa: int, pred: str | None, score: float | None, status: str = "ok") -> QAJudgement:
    return QAJudgement("short", video, qa, f"q{qa}", "a", "", status, pred=pred, score=score)


def test_stability_reports_agreement_and_flipping_qas():
    run1 = [judgement("v1", 0, "yes", 5), judgement("v1", 1, "no", 0), judgement("v2", 0, "no", 1)]
    run2 = [
        judgement("v1", 0, "yes", 4),
        judgement("v1", 1, "yes", 3),
        judgement("v2", 0, None, None, "parse_failed"),
    ]
    st = stability([run1, run2])
    assert st["n_qas"] == 3 and st["repeats"] == 2
    assert st["pred_agreement"] == 1 / 3
    assert st["score_agreement"] == 0.0
    flipped = {(f["video_id"], f["qa_index"]): f["preds"] for f in st["flipping_qas"]}
    assert flipped == {("v1", 1): ["no", "yes"], ("v2", 0): ["no", "parse_failed"]}


def _request(doc_id: int, task: str = "vdc_demo_short"):
    return SimpleNamespace(args=("ctx", {}, None, doc_id, task, "test"))


def test_oracle_and_blind_models_answer_from_the_doc():
    docs = [
        {"sample_key": "short/v1", "reference_caption": "A red ball.", "video_id": "v1"},
        {"sample_key": "short/v2", "reference_caption": "", "video_id": "v2"},
    ]
    oracle, blind = VdcOracle(batch_size="2"), VdcBlind()
    for model in (oracle, blind):
        model.task_dict = {"vdc_demo_short": {"test": docs}}
    assert blind.generate_until([_request(0), _request(1)]) == ["", ""]
    assert oracle.generate_until([_request(0), _request(1)]) == ["A red ball.", ""]
    # an oracle without a reference caption would silently be the blind bound: flagged as a failed sample
    assert "no reference_caption" in sample_stats.pop(docs[1])["error"]
    assert sample_stats.pop(docs[0]) == {}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["vdc_oracle", "vdc_blind"])
def test_bound_models_run_in_lmms_eval(tmp_path, model):
    """Registered through the entry point: `--model vdc_oracle|vdc_blind --tasks vdc_demo_short` works."""
    import json

    from vdc_bench.runs.lmms_runner import run_lmms_eval

    run = run_lmms_eval(model, "", ["vdc_demo_short"], tmp_path, predict_only=True, limit=2, timeout=600)
    (samples,) = run.samples.values()
    records = [json.loads(line)["vdc_acc"] for line in samples.read_text().splitlines() if line.strip()]
    assert len(records) == 2
    for rec in records:
        assert rec["reference_caption"]
        expected = rec["reference_caption"].strip() if model == "vdc_oracle" else ""
        assert rec["caption"] == expected and not rec["failed"]


def test_calibrate_end_to_end_against_a_stub_judge():
    """The whole calibration pipeline (conditions x repeats -> scorer -> report, markdown, audit)."""
    from doubles.stub_judge_server import StubJudgeServer
    from vdc_bench.judge.calibrate import CalibrationConfig, calibrate, markdown
    from vdc_bench.scoring.judge_settings import JudgeSettings
    from vdc_bench.scoring.protocol import load_protocol

    with StubJudgeServer() as stub:
        settings = JudgeSettings(base_url=stub.url, model="stub", concurrency=4)
        report = calibrate(
            CalibrationConfig(repeats=2), settings, load_protocol(), progress=False, items=items()
        )
    assert report["run"]["qas_per_condition"] == 8 and report["run"]["repeats"] == 2
    assert report["run"]["judge_calls_made"] >= 4 * 2 * 8 * 2
    assert set(report["conditions"]) == {"oracle", "mismatched", "generic", "blind"}
    for name, st in report["stability"].items():
        assert st["n_qas"] == 8 and st["pred_agreement"] == 1.0, name  # deterministic stub: no flips
    assert len(report["audit"]) == 4 * 2 * 8
    assert set(report["margins"]) == {
        "oracle-mismatched",
        "mismatched-blind",
        "oracle-blind",
        "oracle-generic",
    }
    text = markdown(report)
    assert "| oracle |" in text and "Expected order oracle > mismatched > blind" in text
