"""The typed records: committed results still load, every record survives a round trip, wrong types are
one error naming the file (and line) and the field, and ``token_kept_ratio`` is what the adapter recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vdc_bench.cli import build_parser
from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.arg_names import DEFAULT_TOKEN_KEPT_RATIO
from vdc_bench.records import (
    SAMPLE_SCHEMA,
    RunSummary,
    SampleRecord,
    ScoresDocument,
    SweepDocument,
    sample_record_of_line,
)
from vdc_bench.runs.run_summary import summarize_run

# A demo sweep as an earlier version wrote it (before several record fields existed): old files must still load.
DEMO = Path(__file__).resolve().parent / "data" / "sweep_written_2026-11-26"
RATIO = DEMO / "ratio_0.1"


def _scores_file() -> Path:
    return next(RATIO.glob("vdcscore_*/vdcscore_scores.json"))


def _samples_files(run: Path) -> list[Path]:
    return sorted(run.glob("*/*_samples_*.jsonl"))


def _dump(path: Path, payload) -> Path:
    path.write_text(json.dumps(payload))
    return path


# --- committed results load and round-trip -------------------------------------------------------------------


def test_committed_sample_records_round_trip():
    lines = [(p, n, line) for p in _samples_files(RATIO) for n, line in read_jsonl(p)]
    assert len(lines) == 5
    for path, lineno, line in lines:
        rec = sample_record_of_line(line, f"{path}:{lineno}")
        again = rec.to_dict()
        assert SampleRecord.from_dict(again, "again") == rec
        assert again["schema"] == SAMPLE_SCHEMA  # written before the field existed: read as version 1
        # Nothing the file holds is lost (stats drop only keys recorded as null).
        raw = dict(line["vdc_acc"], stats={k: v for k, v in line["vdc_acc"]["stats"].items() if v is not None})
        assert {k: v for k, v in again.items() if k != "schema"} == raw


def _without_later_fields(out: dict) -> dict:
    """A written scores document less the fields added after the committed file was written (null there)."""
    for block in [out["vdcscore"], *out["dimensions"].values()]:
        assert block.pop("acc_stderr") is None and block.pop("score_stderr") is None
    assert out.pop("judging") is None and out["protocol"].pop("same_prompts_as_published") is None
    return out


def test_committed_scores_document_round_trips_exactly():
    path = _scores_file()
    raw = json.loads(path.read_text())
    doc = ScoresDocument.load(path)
    assert doc.vdcscore.n_dimensions == 5 and doc.judge.model.startswith("qwen2.5")
    assert ScoresDocument.from_dict(doc.to_dict(), "again") == doc
    assert _without_later_fields(doc.to_dict()) == raw


def test_fields_a_newer_writer_adds_are_kept(tmp_path):
    raw = json.loads(_scores_file().read_text())
    raw["judge_unusable"] = False
    raw["dimensions"]["camera"]["flag"] = "x"
    doc = ScoresDocument.from_dict(raw, "scores.json")
    assert doc.extra == {"judge_unusable": False} and doc.dimensions["camera"].extra == {"flag": "x"}
    assert _without_later_fields(doc.to_dict()) == raw


def test_the_committed_demo_sweep_round_trips_exactly():
    path = Path(__file__).resolve().parents[1] / "results" / "demo_sweep" / "sweep.json"
    doc = SweepDocument.load(path)
    assert [p.token_kept_ratio for p in doc.points] == [0.1, 0.4, 1.0]
    assert all(p.random_weights for p in doc.points)  # a tiny random checkpoint: flagged as such
    assert doc.to_dict() == json.loads(path.read_text())  # written by this version: nothing added or lost


def test_committed_sweep_and_summaries_load_and_round_trip():
    raw = json.loads((DEMO / "sweep.json").read_text())
    doc = SweepDocument.load(DEMO / "sweep.json")
    assert [p.token_kept_ratio for p in doc.points] == [0.1, 0.4, 1.0]
    assert [(d.a, d.b) for d in doc.paired] == [(0.4, 0.1), (1.0, 0.4)]
    assert SweepDocument.from_dict(doc.to_dict(), "again") == doc
    # Written before RunSummary had these fields: they are the only additions, with their defaults.
    again = doc.to_dict()
    for point in again["points"]:
        assert point.pop("schema") == "vdc-bench.run-summary/1" and point.pop("runtime") == {}
        assert point.pop("damaged_videos") == [] and point.pop("random_weights") is False
        assert point.pop("judging_failure") is None
        assert point.pop("task_metrics") == {} and point.pop("throughput") == {}
        assert point.pop("token_kept_ratio_source") is None and point["efficiency"].pop("cached") == 0
        assert point["judge_usage"].pop("prompt_tokens") == point["judge_usage"].pop("completion_tokens") == 0
        for block in [point["scores"]["vdcscore"], *point["scores"]["dimensions"].values()]:
            assert block.pop("acc_stderr") is None and block.pop("score_stderr") is None
        assert point["protocol"].pop("same_prompts_as_published") is None
    assert again.pop("relative") is None
    assert again == raw
    for folder in sorted(DEMO.glob("ratio_*")):
        summary = RunSummary.load(folder / "summary.json")
        assert RunSummary.from_dict(summary.to_dict(), "again") == summary


# --- validation: one line naming where and the field ---------------------------------------------------------


def test_scores_document_errors_name_the_file_and_field(tmp_path):
    raw = json.loads(_scores_file().read_text())
    bad = _dump(tmp_path / "vdcscore_scores.json", {**raw, "dimensions": {
        **raw["dimensions"], "camera": {**raw["dimensions"]["camera"], "acc": "high"}}})
    with pytest.raises(VdcBenchError) as err:
        ScoresDocument.load(bad)
    assert str(err.value) == f"{bad}: field 'dimensions.camera.acc' must be a number, got the string 'high'"

    bad = _dump(tmp_path / "evil.json", {**raw, "dimensions": {"../x": raw["dimensions"]["camera"]}})
    with pytest.raises(VdcBenchError, match=r"evil.json: field 'dimensions\.\.\./x' is '\.\./x', not a VDC dim"):
        ScoresDocument.load(bad)
    bad = _dump(tmp_path / "old.json", {**raw, "schema": "vdc-bench.scores/0"})
    with pytest.raises(VdcBenchError, match="old.json: field 'schema' must be 'vdc-bench.scores/1'"):
        ScoresDocument.load(bad)
    bad = _dump(tmp_path / "nojudge.json", {k: v for k, v in raw.items() if k != "judge"})
    with pytest.raises(VdcBenchError, match="nojudge.json: missing field 'judge'$"):
        ScoresDocument.load(bad)
    (tmp_path / "cut.json").write_text(json.dumps(raw)[:100])
    with pytest.raises(VdcBenchError, match=r"cut.json: not valid JSON \(line 1"):
        ScoresDocument.load(tmp_path / "cut.json")


def test_sweep_and_summary_errors_name_the_file_and_field(tmp_path):
    raw = json.loads((DEMO / "sweep.json").read_text())
    raw["points"][1]["efficiency"]["failed"] = "0"
    bad = _dump(tmp_path / "sweep.json", raw)
    with pytest.raises(VdcBenchError) as err:
        SweepDocument.load(bad)
    assert str(err.value) == f"{bad}: field 'points[1].efficiency.failed' must be an integer, got the string '0'"
    bad = _dump(tmp_path / "other.json", {k: v for k, v in raw.items() if k != "schema"})
    with pytest.raises(VdcBenchError, match="other.json: field 'schema' must be 'vdc-bench.sweep/1', got null"):
        SweepDocument.load(bad)
    summary = json.loads((RATIO / "summary.json").read_text())
    bad = _dump(tmp_path / "summary.json", {**summary, "token_kept_ratio": "0.1"})
    with pytest.raises(VdcBenchError, match="summary.json: field 'token_kept_ratio' must be a number, got the string"):
        RunSummary.load(bad)


def test_a_run_folder_with_a_mistyped_sample_names_its_line(tmp_path):
    run = shutil.copytree(RATIO, tmp_path / "run")
    path = _samples_files(run)[2]
    line = json.loads(path.read_text())
    line["vdc_acc"]["failed"] = "false"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(VdcBenchError) as err:
        summarize_run(run)
    assert str(err.value) == f"{path}:1: field 'failed' must be true or false, got the string 'false'"


# --- token_kept_ratio: one default, read back from the samples --------------------------------------------------


def _rewrite_samples(run: Path, edit) -> None:
    """Apply ``edit(n, stats)`` to the stats of every sample record of ``run`` (n counts the records)."""
    n = 0
    for path in _samples_files(run):
        lines = [line for _, line in read_jsonl(path)]
        for line in lines:
            edit(n, line["vdc_acc"]["stats"])
            n += 1
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_summary_ratio_is_what_the_adapter_recorded_not_model_args(tmp_path):
    run = shutil.copytree(RATIO, tmp_path / "run")
    results = next(run.glob("*/*_results.json"))
    raw = json.loads(results.read_text())
    raw["config"]["model_args"] = raw["config"]["model_args"].replace("token_kept_ratio=0.1", "token_merge_ratio=0.9")
    results.write_text(json.dumps(raw))
    assert summarize_run(run).token_kept_ratio == 0.1

    _rewrite_samples(run, lambda n, stats: stats.pop("token_kept_ratio"))
    assert summarize_run(run).token_kept_ratio is None  # a model that records none has none

    _rewrite_samples(run, lambda n, stats: stats.update(token_kept_ratio=0.1 if n % 2 else 0.2))
    with pytest.raises(VdcBenchError, match=r"record several token_kept_ratio values \[0.1, 0.2\]"):
        summarize_run(run)


def test_caption_command_defaults_to_the_adapters_ratio():
    pytest.importorskip("torch")
    from vdc_bench.models.auroracap.settings import AuroraCapSettings

    args = build_parser().parse_args(["caption", "video.mp4", "--pretrained", "ckpt"])
    assert args.token_kept_ratio == AuroraCapSettings.token_kept_ratio == DEFAULT_TOKEN_KEPT_RATIO == 0.4
    assert args.num_frm == AuroraCapSettings.num_frm == 16


def test_sweep_refuses_a_ratio_the_model_did_not_record(tmp_path, monkeypatch):
    from vdc_bench.runs import sweep

    summary = RunSummary.load(RATIO / "summary.json")
    monkeypatch.setattr(sweep, "run_lmms_eval", lambda *a, **k: None)
    monkeypatch.setattr(sweep, "summarize_run", lambda *a, **k: summary)
    config = sweep.SweepConfig(output=tmp_path, model="vdc_oracle")
    with pytest.raises(VdcBenchError, match=r"recorded token_kept_ratio 0.1 in its samples, not 0.4"):
        sweep.evaluate_ratio(config, 0.4, "x")
    assert sweep.evaluate_ratio(config, 0.1, "x") is summary
    summary.token_kept_ratio = None
    with pytest.raises(VdcBenchError, match=r"recorded no token_kept_ratio in its samples, not 0.1"):
        sweep.evaluate_ratio(config, 0.1, "x")


def test_fields_later_stages_added_are_typed_too(tmp_path):
    line = next(read_jsonl(_samples_files(RATIO)[0]))[1]
    for key, value, expected in (("random_weights", "yes", "true or false"), ("video_damaged", 1, "true or false"),
                                 ("frames_in_header", [3, "4"], "an integer")):
        bad = dict(line["vdc_acc"], stats={**line["vdc_acc"]["stats"], key: value})
        with pytest.raises(VdcBenchError, match=rf"^s.jsonl:3: field 'stats\.{key}(\[1\])?' must be {expected}, got "):
            SampleRecord.from_dict(bad, "s.jsonl:3")
    raw = json.loads(_scores_file().read_text())
    judged = ScoresDocument.from_dict({**raw, "judging": {"qas": 9, "failed": 2, "parse_failed": 2}}, "s.json")
    assert judged.judging_failure() == ("judging failed for 2 of 9 QAs (2 parse_failed): not a VDCscore; fix the "
                                        "judge and score again (verdicts already judged come from the cache)")
    assert ScoresDocument.from_dict({**raw, "judging": {"qas": 9, "failed": 0}}, "s.json").judging_failure() is None
    with pytest.raises(VdcBenchError, match=r"^s.json: field 'judging\.failed' must be an integer, got the string '2'$"):
        ScoresDocument.from_dict({**raw, "judging": {"qas": 9, "failed": "2"}}, "s.json")
    block = {**raw["dimensions"]["camera"], "acc_stderr": "small"}
    with pytest.raises(VdcBenchError, match=r"field 'dimensions\.camera\.acc_stderr' must be a number"):
        ScoresDocument.from_dict({**raw, "dimensions": {**raw["dimensions"], "camera": block}}, "s.json")
