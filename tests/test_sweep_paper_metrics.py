"""Sweeps over any tasks: the paper's metrics, the relative-performance math, per-task metrics from
lmms-eval's results file, task-name checks and the ``auroracap_paper`` group's membership."""

from __future__ import annotations

import csv
import math

import pytest
import yaml

from vdc_bench.errors import VdcBenchError
from vdc_bench.leaderboard.published import RATIO_SWEEP_CSV, load_paper_sweep, published_relative_curve
from vdc_bench.lmms_tasks import TASKS_DIR
from vdc_bench.records import Efficiency, RunSummary, SweepDocument
from vdc_bench.runs.paper_metrics import PAPER_METRICS, paper_series, relative_curve, sweep_relative_curve
from vdc_bench.runs.run_summary import task_metrics
from vdc_bench.runs.sweep import check_recorded_ratio
from vdc_bench.runs.task_names import check_task_names

# The published "average performance" curve of the AuroraCap ratio sweep, recomputed by hand from the 17
# published metrics (mean and population std of value / own best, in %), to the two decimals it is quoted with.
PUBLISHED_AGGREGATE = {
    0.01: (81.47, 11.75), 0.05: (88.73, 7.10), 0.1: (91.19, 6.40), 0.2: (93.83, 5.92), 0.3: (96.07, 3.75),
    0.4: (96.90, 3.66), 0.5: (96.15, 6.39), 0.6: (96.31, 5.39), 0.7: (96.74, 4.64), 0.8: (95.75, 7.83),
    0.9: (94.70, 9.26), 1.0: (94.28, 6.63),
}


def test_relative_curve_on_hand_computed_numbers():
    # a: 1 -> 2 (best 2), b: 3 -> 3, c: 4 -> 2 (best 4). At 0.1: 0.5, 1, 1; at 0.5: 1, 1, 0.5.
    points = relative_curve({"a": {0.1: 1.0, 0.5: 2.0}, "b": {0.1: 3.0, 0.5: 3.0}, "c": {0.1: 4.0, 0.5: 2.0}})
    assert [p.ratio for p in points] == [0.1, 0.5]
    mean = 100 * 2.5 / 3
    std = 100 * math.sqrt(((0.5 - 2.5 / 3) ** 2 + 2 * (1 - 2.5 / 3) ** 2) / 3)  # population: divide by 3, not 2
    for p in points:
        assert p.mean == pytest.approx(mean) and p.std == pytest.approx(std)
    assert std == pytest.approx(23.5702, abs=1e-4)
    one = relative_curve({"only": {0.2: 5.0, 1.0: 10.0}})
    assert [(p.mean, p.std) for p in one] == [(50.0, 0.0), (100.0, 0.0)]


def test_relative_curve_refuses_what_it_cannot_normalise():
    with pytest.raises(ValueError, match="every ratio"):
        relative_curve({"a": {0.1: 1.0, 0.5: 2.0}, "b": {0.1: 3.0}})
    with pytest.raises(ValueError, match="positive"):
        relative_curve({"a": {0.1: 0.0, 0.5: 0.0}})


def test_published_aggregate_recomputed_from_the_csv_matches_the_quoted_curve():
    curve = published_relative_curve()
    assert [p.ratio for p in curve] == list(PUBLISHED_AGGREGATE)
    for p in curve:
        mean, std = PUBLISHED_AGGREGATE[p.ratio]
        assert (round(p.mean, 2), round(p.std, 2)) == (mean, std), p.ratio


def test_published_aggregate_over_a_subset_uses_only_those_columns():
    gqa = published_relative_curve(["gqa_acc"])  # GQA is best at rho = 1.0 (59.72)
    assert gqa[-1].mean == pytest.approx(100.0) and gqa[0].mean == pytest.approx(100 * 52.31 / 59.72)
    assert all(p.std == 0.0 for p in gqa)
    two = published_relative_curve(["gqa_acc", "mmmu_acc"])
    at_one = (59.72 / 59.72 + 34.56 / 36.11) / 2
    assert two[-1].mean == pytest.approx(100 * at_one)


def test_the_mapping_covers_every_published_column_once():
    with RATIO_SWEEP_CSV.open(newline="") as f:
        header = next(csv.reader(f))
    assert header[1:] == [m.column for m in PAPER_METRICS]
    assert len({m.task for m in PAPER_METRICS}) == 17
    assert set(load_paper_sweep()) == {m.column for m in PAPER_METRICS}


def test_the_group_holds_the_papers_twelve_standard_tasks_and_vdc():
    group = yaml.safe_load((TASKS_DIR / "auroracap_paper" / "auroracap_paper.yaml").read_text())
    assert group["group"] == "auroracap_paper"
    standard = [m.task for m in PAPER_METRICS if not m.task.startswith("vdc_")]
    assert len(standard) == 12
    assert group["task"] == [*standard, "vdc"]
    vdc = yaml.safe_load((TASKS_DIR / "vdc" / "vdc.yaml").read_text())
    assert sorted(vdc["task"]) == sorted(m.task for m in PAPER_METRICS if m.task.startswith("vdc_"))


RESULTS = {
    "results": {
        "gqa": {"alias": "gqa", "exact_match,none": 0.25, "exact_match_stderr,none": 0.1,
                "exact_match_stderr_clt,none": 0.2, "exact_match_stderr_clustered,none": "N/A"},
        "flickr30k_test": {"alias": "flickr30k_test", "flickr_CIDEr,none": 0.5, "flickr_CIDEr_stderr,none": "N/A",
                           "other,strict": 3, "flag,none": True},
        "auroracap_paper": {" ": " ", "alias": "auroracap_paper"},
    },
    "n-samples": {"gqa": {"original": 4, "effective": 2}},
}


def test_task_metrics_keep_every_number_with_its_stderr():
    got = task_metrics(RESULTS)
    assert set(got) == {"gqa", "flickr30k_test"}  # a group without an aggregate has no metric
    assert got["gqa"].metrics["exact_match"].value == 0.25 and got["gqa"].metrics["exact_match"].stderr == 0.1
    assert set(got["gqa"].metrics) == {"exact_match"} and got["gqa"].samples == 2
    flickr = got["flickr30k_test"]
    assert flickr.metrics["flickr_CIDEr"].stderr is None  # "N/A"
    assert flickr.metrics["other,strict"].value == 3.0 and "flag" not in flickr.metrics and flickr.samples is None


def _summary(ratio: float, metrics: dict[str, dict[str, float]]) -> RunSummary:
    return RunSummary.from_dict({
        "label": f"r{ratio}", "kind": "run", "model": "auroracap", "model_args": "", "token_kept_ratio": ratio,
        "tasks": sorted(metrics), "date": "2026-01-01", "results_path": "x", "scores_path": None,
        "audit_path": None, "scores": None, "judge": None, "protocol": None, "judge_usage": None,
        "efficiency": {"captions": 0, "videos": 0, "failed": 0},
        "task_metrics": {t: {"metrics": {k: {"value": v} for k, v in m.items()}} for t, m in metrics.items()},
    }, "test")


def test_the_sweep_curve_uses_the_paper_metrics_it_ran_and_says_what_it_left_out():
    points = [
        _summary(0.1, {"gqa": {"exact_match": 0.5}, "mmmu_val": {"mmmu_acc": 0.2}, "nocaps_val": {"nocaps_CIDEr": 0.0},
                       "vdc_short": {"vdc_acc": 30.0}, "custom": {"x": 1.0}}),
        _summary(1.0, {"gqa": {"exact_match": 1.0}, "mmmu_val": {"other": 0.4}, "nocaps_val": {"nocaps_CIDEr": 0.0},
                       "vdc_short": {"vdc_acc": 40.0}, "custom": {"x": 2.0}}),
    ]
    series, excluded = paper_series(points)
    assert series == {"gqa_acc": {0.1: 0.5, 1.0: 1.0}, "vdc_short_acc": {0.1: 30.0, 1.0: 40.0}}
    assert "mmmu_acc" in excluded["mmmu_acc"] and "0.1" not in excluded["mmmu_acc"]
    assert "not positive" in excluded["nocaps_cider"]
    curve = sweep_relative_curve(points)
    assert curve.metrics == ["gqa_acc", "vdc_short_acc"]
    assert curve.points[0].mean == pytest.approx((50 + 75) / 2) and curve.points[0].std == pytest.approx(12.5)
    assert sweep_relative_curve([_summary(0.1, {"custom": {"x": 1.0}})]) is None


def test_sweep_files_without_task_metrics_still_load():
    old_point = {k: v for k, v in _summary(0.1, {}).to_dict().items()
                 if k not in ("task_metrics", "throughput", "token_kept_ratio_source")}
    doc = SweepDocument.from_dict({"schema": "vdc-bench.sweep/1", "created_utc": "t", "config": {},
                                   "points": [old_point]}, "old.json")
    assert doc.relative is None and doc.points[0].task_metrics == {} and doc.points[0].throughput == {}


def test_a_run_without_vdc_samples_takes_the_ratio_it_was_given_and_says_so(tmp_path):
    summary = _summary(0.4, {"gqa": {"exact_match": 0.5}})
    summary.token_kept_ratio = None  # nothing recorded it: no VDC sample ran
    check_recorded_ratio(summary, 0.4, "auroracap", tmp_path)
    assert (summary.token_kept_ratio, summary.token_kept_ratio_source) == (0.4, "model_args")
    with_vdc = _summary(0.4, {})
    with_vdc.token_kept_ratio, with_vdc.efficiency = None, Efficiency(captions=5, videos=1, failed=0)
    with pytest.raises(VdcBenchError, match="recorded no token_kept_ratio"):
        check_recorded_ratio(with_vdc, 0.4, "vdc_oracle", tmp_path)
    other = _summary(0.1, {})
    with pytest.raises(VdcBenchError, match="recorded token_kept_ratio 0.1 in its samples, not 0.4"):
        check_recorded_ratio(other, 0.4, "auroracap", tmp_path)


class _Index:
    """A stand-in for lmms-eval's TaskManager index (the real one is checked in the slow sweep test)."""

    def __init__(self, entries):
        self.task_index = entries


def test_unknown_task_names_are_one_line_naming_the_group(tmp_path):
    group = tmp_path / "g.yaml"
    group.write_text("group: g\ntask:\n  - known\n  - inner\n")
    inner = tmp_path / "inner.yaml"
    inner.write_text("group: inner\ntask:\n  - missing_one\n")
    index = _Index({"known": {"type": "task"}, "g": {"type": "group", "yaml_path": str(group)},
                    "inner": {"type": "group", "yaml_path": str(inner)}, "tag1": {"type": "tag", "task": ["known"]}})
    check_task_names(["known", "tag1"], index)
    with pytest.raises(VdcBenchError, match=r"^--tasks: unknown task 'nope'") as err:
        check_task_names(["known", "nope"], index)
    assert "\n" not in str(err.value)
    with pytest.raises(VdcBenchError, match=r"^group 'inner' lists unknown task 'missing_one'"):
        check_task_names(["g"], index)
    with pytest.raises(VdcBenchError, match="no task"):
        check_task_names([], index)
