"""The AuroraCap paper's 17 ratio-sweep metrics, which of our tasks' metrics stands for each, and the
paper's "average performance" curve (each metric divided by its own best value over the sweep, then
mean and population std across metrics per ratio).

The column names are those of the published sweep table (``leaderboard/data/auroracap_ratio_sweep_published.csv``).
Only metrics where higher is better enter; all 17 are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vdc_bench.records import RelativeCurve, RelativePoint, RunSummary


@dataclass(frozen=True)
class PaperMetric:
    column: str  # published sweep table column
    label: str  # as the paper names it
    task: str  # lmms-eval task whose results hold it
    metric: str  # key in that task's TaskMetrics (filter "none")


PAPER_METRICS: tuple[PaperMetric, ...] = (
    PaperMetric("flickr30k_cider", "Flickr30k CIDEr", "flickr30k_test", "flickr_CIDEr"),
    PaperMetric("nocaps_cider", "NoCaps CIDEr", "nocaps_val", "nocaps_CIDEr"),
    PaperMetric("coco_cap_cider", "COCO-Caption CIDEr", "coco2017_cap_val", "coco_CIDEr"),
    PaperMetric("gqa_acc", "GQA accuracy", "gqa", "exact_match"),
    PaperMetric("mmmu_acc", "MMMU accuracy", "mmmu_val", "mmmu_acc"),
    PaperMetric("vqav2_acc", "VQAv2 accuracy", "vqav2_val", "exact_match"),
    PaperMetric("msrvtt_cider", "MSR-VTT CIDEr", "msrvtt_cap_1ka", "msrvtt_CIDEr"),
    PaperMetric("vatex_cider", "VATEX CIDEr", "vatex_test", "vatex_CIDEr"),
    PaperMetric("msvd_qa_acc", "MSVD-QA accuracy", "msvd_qa", "judge_accuracy"),
    PaperMetric("activitynet_qa_acc", "ActivityNet-QA accuracy", "activitynetqa_judged", "judge_accuracy"),
    PaperMetric("msrvtt_qa_acc", "MSRVTT-QA accuracy", "msrvtt_qa", "judge_accuracy"),
    PaperMetric("ivqa_acc", "iVQA accuracy", "ivqa", "judge_accuracy"),
    PaperMetric("vdc_short_acc", "VDC short accuracy", "vdc_short", "vdc_acc"),
    PaperMetric("vdc_camera_acc", "VDC camera accuracy", "vdc_camera", "vdc_acc"),
    PaperMetric("vdc_background_acc", "VDC background accuracy", "vdc_background", "vdc_acc"),
    PaperMetric("vdc_main_object_acc", "VDC main-object accuracy", "vdc_main_object", "vdc_acc"),
    PaperMetric("vdc_detailed_acc", "VDC detailed accuracy", "vdc_detailed", "vdc_acc"),
)
BY_COLUMN = {m.column: m for m in PAPER_METRICS}


def relative_curve(series: Mapping[str, Mapping[float, float]]) -> list[RelativePoint]:
    """``series``: metric -> {ratio: value}, every metric at the same ratios with a positive best value.
    Per ratio: mean and population std over metrics of value / that metric's best, in % (points)."""
    ratios = sorted({r for values in series.values() for r in values})
    if not series or any(sorted(values) != ratios for values in series.values()):
        raise ValueError("relative_curve: every metric needs a value at every ratio")
    best = {name: max(values.values()) for name, values in series.items()}
    if any(b <= 0 or not math.isfinite(b) for b in best.values()):
        raise ValueError("relative_curve: a metric's best value is not a positive number")
    points = []
    for ratio in ratios:
        rel = [series[name][ratio] / best[name] for name in series]
        mean = sum(rel) / len(rel)
        std = math.sqrt(sum((x - mean) ** 2 for x in rel) / len(rel))  # population std, as the paper's band
        points.append(RelativePoint(ratio=ratio, mean=100.0 * mean, std=100.0 * std))
    return points


def paper_series(points: Sequence[RunSummary]) -> tuple[dict[str, dict[float, float]], dict[str, str]]:
    """The paper metrics these settings ran: (column -> {ratio: value}, column -> why it was left out)."""
    series: dict[str, dict[float, float]] = {}
    excluded: dict[str, str] = {}
    ran = [p for p in points if p.token_kept_ratio is not None]
    for spec in PAPER_METRICS:
        have = [p for p in ran if spec.task in p.task_metrics]
        if not have:
            continue  # not run: the curve says which metrics it covers
        values = {p.token_kept_ratio: p.task_metrics[spec.task].metrics.get(spec.metric) for p in have}
        missing = sorted(f"{r:g}" for r, v in values.items() if v is None)
        if missing or len(have) != len(ran):
            known = sorted(have[0].task_metrics[spec.task].metrics)
            excluded[spec.column] = (f"{spec.task} has no {spec.metric} at ρ={', '.join(missing)} (it has: "
                                     f"{', '.join(known)})" if missing else f"{spec.task} did not run at every ratio")
            continue
        numbers = {r: v.value for r, v in values.items()}
        if not all(math.isfinite(v) for v in numbers.values()) or max(numbers.values()) <= 0:
            excluded[spec.column] = f"{spec.task} {spec.metric} is not positive at any ratio: nothing to normalise by"
            continue
        series[spec.column] = numbers
    return series, excluded


def sweep_relative_curve(points: Sequence[RunSummary]) -> RelativeCurve | None:
    """The relative-performance curve over the paper metrics these settings ran; None when none did."""
    series, excluded = paper_series(points)
    if not series:
        return RelativeCurve(metrics=[], points=[], excluded=excluded) if excluded else None
    return RelativeCurve(metrics=list(series), points=relative_curve(series), excluded=excluded)
