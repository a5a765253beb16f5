"""VDCscore in lmms-eval's results file (in-process stderrs; ``score --update-results`` for predict-only runs)
and predict-only shards (``run --shard i/N``) scored together like one run."""

from __future__ import annotations

import json
import math

import pytest

from vdc_bench.cli import main
from vdc_bench.dataset.errors import DataFormatError
from vdc_bench.dataset.settings import DataSettings
from vdc_bench.errors import VdcBenchError
from vdc_bench.lmms_tasks.vdc.results_file import update_results
from vdc_bench.records import DimensionScores
from vdc_bench.runs.lmms_runner import find_run, run_lmms_eval
from vdc_bench.runs.run_summary import vdc_records

DIMS = ("camera", "short", "background", "main_object", "detailed")


def _predict_only_results(tmp_path, sizes=(4, 4, 4, 2, 4)):
    tasks = [f"vdc_demo_{d}" for d in DIMS]
    placeholder = {"vdc_acc,none": 999, "vdc_acc_stderr,none": "N/A", "vdc_score,none": 999,
                   "vdc_score_stderr,none": "N/A"}
    results = {
        "results": {"vdc_demo": {**placeholder, "alias": "vdc_demo"}, **{t: dict(placeholder) for t in tasks}},
        "groups": {"vdc_demo": {**placeholder, "alias": "vdc_demo"}},
        "group_subtasks": {"vdc_demo": tasks},
        "configs": {t: {"dataset_kwargs": {"dimension": d, "source": "demo"}} for t, d in zip(tasks, DIMS, strict=True)},
        "n-samples": {t: {"original": n, "effective": n} for t, n in zip(tasks, sizes, strict=True)},
    }
    path = tmp_path / "20260101_000000_results.json"
    path.write_text(json.dumps(results))
    return path


def test_update_results_replaces_placeholders_with_values_and_stderrs(tmp_path):
    path = _predict_only_results(tmp_path)
    scores = {d: DimensionScores(n_videos=4, acc=40.0 + k, score=2.0 + k / 10, acc_stderr=1.0 + k, score_stderr=0.1)
              for k, d in enumerate(DIMS)}
    assert update_results(path, scores) == [*[f"vdc_demo_{d}" for d in DIMS], "vdc_demo"]
    doc = json.loads(path.read_text())
    assert doc["results"]["vdc_demo_short"]["vdc_acc,none"] == 41.0
    assert doc["results"]["vdc_demo_short"]["vdc_acc_stderr,none"] == 2.0
    group = doc["results"]["vdc_demo"]
    assert group == doc["groups"]["vdc_demo"]
    assert group["vdc_acc,none"] == pytest.approx(42.0)  # unweighted mean of 40..44
    sizes, ses = [4, 4, 4, 2, 4], [1.0, 2.0, 3.0, 4.0, 5.0]  # lmms-eval's pooled stderr of its group rows
    pooled = math.sqrt(sum((n - 1) * s * s * n for n, s in zip(sizes, ses, strict=True)) / (sum(sizes) - 5) / sum(sizes))
    assert group["vdc_acc_stderr,none"] == pytest.approx(pooled)
    assert 999 not in [v for row in doc["results"].values() for v in row.values()]


def test_update_results_refuses_a_file_it_would_leave_half_placeholder(tmp_path):
    path = _predict_only_results(tmp_path)
    before = path.read_text()
    with pytest.raises(VdcBenchError, match="vdc_demo_main_object .dimension main_object. has no VDCscore"):
        update_results(path, {d: DimensionScores(n_videos=4, acc=1.0, score=1.0) for d in DIMS if d != "main_object"})
    assert path.read_text() == before


def test_shard_setting_is_validated():
    assert DataSettings.resolve({}, env={"VDC_SHARD": "2/3"}).shard == (2, 3)
    assert DataSettings.resolve({}, env={}).shard is None
    for bad in ("3/3", "x/2", "1", "-1/2"):
        with pytest.raises(DataFormatError, match="shard"):
            DataSettings.resolve({"shard": bad}, env={})


def test_shard_needs_predict_only(tmp_path, capsys):
    assert main(["run", "--tasks", "vdc_demo", "--shard", "0/2", "--output_path", str(tmp_path)]) == 2
    assert "--shard needs --predict_only" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before lmms-eval started


def _score(inputs, stub, tmp_path, out, *extra):
    assert main(["score", *map(str, inputs), "--judge-base-url", stub.url, "--judge-model", "stub-judge", "--cache",
                 str(tmp_path / "v.sqlite"), "--quiet", "--output", str(out), *extra]) == 0
    return json.loads((out / "vdcscore_scores.json").read_text())


@pytest.mark.slow
def test_three_shards_score_like_one_run_and_results_files_carry_vdcscore(scoring_stub, tmp_path):
    stub = scoring_stub()
    oracle = ["run", "--model", "vdc_oracle", "--tasks", "vdc_demo", "--predict_only"]
    assert main([*oracle, "--output_path", str(tmp_path / "full")]) == 0
    for i in range(3):
        assert main([*oracle, "--output_path", str(tmp_path / f"shard{i}"), "--shard", f"{i}/3"]) == 0
    keys = [{r.sample_key for r in vdc_records(find_run(tmp_path / f"shard{i}"))} for i in range(3)]
    full_keys = {r.sample_key for r in vdc_records(find_run(tmp_path / "full"))}
    assert all(keys) and sum(map(len, keys)) == len(full_keys) and set().union(*keys) == full_keys

    one = _score([tmp_path / "full"], stub, tmp_path, tmp_path / "scored_full", "--update-results")
    sharded = _score([tmp_path / f"shard{i}" for i in range(3)], stub, tmp_path, tmp_path / "scored_shards")
    assert sharded["dimensions"] == one["dimensions"] and sharded["vdcscore"] == one["vdcscore"]

    updated = find_run(tmp_path / "full").results()["results"]
    for d in DIMS:
        row, block = updated[f"vdc_demo_{d}"], one["dimensions"][d]
        assert row["vdc_acc,none"] == block["acc"] and row["vdc_score,none"] == block["score"]
        assert row["vdc_acc_stderr,none"] == block["acc_stderr"] and row["vdc_score_stderr,none"] == block["score_stderr"]
    # With 2 QAs a caption, a dimension whose four videos score alike has a true stderr of 0; not all of them do.
    assert any(updated[f"vdc_demo_{d}"]["vdc_acc_stderr,none"] > 0 for d in DIMS)

    # A scoring run (judge at lmms-eval's aggregation) writes the same numbers itself, stderrs included.
    env = {"VDC_JUDGE_BASE_URL": stub.url, "VDC_JUDGE_MODEL": "stub-judge", "VDC_VERDICT_CACHE": str(tmp_path / "v.sqlite")}
    scored = run_lmms_eval("vdc_oracle", "", ["vdc_demo"], tmp_path / "scored_run", env=env, log_samples=True)
    in_process = scored.results()["results"]
    for task, row in updated.items():
        for key in ("vdc_acc,none", "vdc_acc_stderr,none", "vdc_score,none", "vdc_score_stderr,none"):
            assert in_process[task][key] == pytest.approx(row[key]), (task, key)


def _records(dim: str, videos: int = 4) -> list[dict]:
    return [{"video_id": f"v{v}", "dimension": dim, "sample_key": f"{dim}/v{v}", "prompt": "Describe.",
             "prompt_index": 0, "caption": f"A cyclist in a yellow jacket rides past bakery {v} in the rain.",
             "reference_caption": "", "failed": False, "error": None, "stats": {},
             "qa": json.dumps([{"question": f"What passes bakery ({i})?", "answer": "a cyclist", "category": "object"}
                               for i in range(3)])} for v in range(videos)]


@pytest.fixture
def fresh_metrics(monkeypatch, scoring_stub, tmp_path):
    from vdc_bench.lmms_tasks.vdc import metrics

    stub = scoring_stub()
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", stub.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    monkeypatch.setenv("VDC_VERDICT_CACHE", str(tmp_path / "v.sqlite"))
    for name, value in (("_SCORED", {}), ("_RUNS", {}), ("_SETTINGS", None)):
        monkeypatch.setattr(metrics, name, value)
    return metrics, stub


def test_lmms_eval_reports_the_vdcscore_bootstrap_stderr(fresh_metrics, tmp_path):
    from lmms_eval import evaluator_utils

    metrics, stub = fresh_metrics
    records = _records("camera")
    metrics.aggregate_acc(records, args=None)
    calls = stub.total_attempts
    stderr = evaluator_utils.stderr_for_metric(metrics.aggregate_acc, bootstrap_iters=100000)(records)
    doc = metrics._SCORED[metrics._content_key(metrics.check_unique(
        metrics.item_from_record(r, "r") for r in records))]
    assert stderr == doc.dimensions["camera"].acc_stderr > 0 and stub.total_attempts == calls
    assert evaluator_utils.stderr_for_metric(metrics.aggregate_acc, bootstrap_iters=0) is None


def test_a_shard_is_never_scored_alone(fresh_metrics, monkeypatch, capsys):
    metrics, stub = fresh_metrics
    monkeypatch.setenv("VDC_SHARD", "1/3")
    assert math.isnan(metrics.aggregate_acc(_records("camera"), args=None))
    assert stub.total_attempts == 0 and "VDC_SHARD=1/3 selects a shard" in capsys.readouterr().err
