"""Quality/efficiency plots (PNG + SVG) from saved run summaries alone, with published reference points.

Our points use **measured** visual tokens and seconds. Published references are marked as such with their
judge (Llama-3.1-8B); our judge may differ, so the y-axes of the two are only comparable when the judges match.
The published AuroraCap sweep has no token measurements: it is drawn on the code-formula axis
(729 - 31*floor(729(1-rho)/32) tokens/frame x 10 frames) and, dashed, on the notebook's nominal axis
(rho x 5,600), as the published sweep states it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)

from vdc_bench.dataset.dimensions import DIMENSIONS  # noqa: E402
from vdc_bench.leaderboard.published import (  # noqa: E402
    PUBLISHED_JUDGE,
    RatioSweepPoint,
    load_ratio_sweep,
    published_entries,
    published_relative_curve,
)
from vdc_bench.records import RelativeCurve, RelativePoint, RunSummary  # noqa: E402
from vdc_bench.runs.paper_metrics import PAPER_METRICS  # noqa: E402

PUBLISHED_LABEL = f"published (judge {PUBLISHED_JUDGE})"
NOMINAL_TOKENS_PER_RATIO = 5600  # notebook axis: rho x 560 tokens x 10 frames
PUBLISHED_SWEEP_FRAMES = 10  # the leaderboard's AuroraCap row claims 10 frames
matplotlib.rcParams.update({"svg.hashsalt": "vdc-bench", "font.size": 9})


@dataclass(frozen=True)
class PlotFiles:
    name: str
    png: Path
    svg: Path
    caption: str


def _ours(points: Sequence[RunSummary], x_of) -> list[tuple[float, RunSummary]]:
    out = [(x_of(p), p) for p in points]
    return sorted([(x, p) for x, p in out if x is not None and p.overall()], key=lambda t: t[0])


def _label(p: RunSummary) -> str:
    return f"ρ={p.token_kept_ratio:g}" if p.token_kept_ratio is not None else p.label


def _annotate_ours(ax, ours: list[tuple[float, RunSummary]]) -> None:
    """Label each of our points with its run (ratio) next to the marker."""
    for x, p in ours:
        ax.annotate(_label(p), (x, p.overall().acc), fontsize=7, color="#0969da",
                    xytext=(4, -10), textcoords="offset points")


def _ours_label(points: Sequence[RunSummary]) -> str:
    judges = sorted({p.judge_model for p in points})
    kinds = sorted({p.kind for p in points})
    tag = "demo, tiny random model" if kinds == ["demo"] else "our runs"
    return f"{tag} (judge {', '.join(judges)})"


def _errorbar(ax, xy: list[tuple[float, RunSummary]], metric: str, dim: str | None, **kw) -> None:
    xs, ys, lo, hi = [], [], [], []
    for x, p in xy:
        block = p.dimension(dim) if dim else p.overall()
        y = getattr(block, metric) if block else None
        if y is None:
            continue
        ci = getattr(block, f"{metric}_ci95") or [y, y]
        xs.append(x)
        ys.append(y)
        lo.append(max(0.0, y - ci[0]))
        hi.append(max(0.0, ci[1] - y))
    if xs:
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, **kw)


def _published_model_points(ax) -> None:
    first = True
    for entry in published_entries():
        if entry.frames and entry.tokens_per_frame and entry.average.acc is not None:
            tokens = entry.frames * entry.tokens_per_frame
            ax.scatter([tokens], [entry.average.acc], marker="s", s=14, color="#8c959f",
                       label=f"{PUBLISHED_LABEL}: models, #F×TPF nominal" if first else None, zorder=2)
            ax.annotate(entry.model, (tokens, entry.average.acc), fontsize=6, color="#57606a",
                        xytext=(3, 2), textcoords="offset points")
            first = False


def _published_sweep(ax, sweep: list[RatioSweepPoint], x_of, dim: str | None, label_suffix: str, **kw) -> None:
    xs = [x_of(p) for p in sweep]
    ys = [p.acc[dim] if dim else p.mean_acc for p in sweep]
    ax.plot(xs, ys, label=f"AuroraCap sweep, {PUBLISHED_LABEL}, {label_suffix}", **kw)


def _save(fig, out_dir: Path, name: str, caption: str) -> PlotFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=130, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return PlotFiles(name, png, svg, caption)


def plot_vs_tokens(points: Sequence[RunSummary], out_dir: Path, sweep: list[RatioSweepPoint]) -> PlotFiles:
    fig, ax = plt.subplots(figsize=(8, 5))
    _published_model_points(ax)
    _published_sweep(ax, sweep, lambda p: p.code_tokens_per_frame * PUBLISHED_SWEEP_FRAMES, None,
                     "tokens per code formula × 10 frames", color="#6e7781", lw=1.2)
    _published_sweep(ax, sweep, lambda p: p.ratio * NOMINAL_TOKENS_PER_RATIO, None,
                     "nominal axis ρ×5600", color="#6e7781", lw=1.0, ls="--")
    ours = _ours(points, lambda p: p.efficiency.visual_tokens_per_video)
    _errorbar(ax, ours, "acc", None, color="#0969da", label=f"{_ours_label(points)}, measured tokens")
    _annotate_ours(ax, ours)
    ax.set_xscale("log")
    ax.set_xlabel("visual tokens per video (log)")
    ax.set_ylabel("VDCscore accuracy (mean of 5 dimensions, %)")
    ax.set_title("VDCscore vs visual tokens per video")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return _save(fig, out_dir, "vdcscore_vs_tokens",
                 "VDCscore accuracy vs visual tokens per video. Ours: measured tokens, 95% bootstrap CIs. "
                 f"Grey: {PUBLISHED_LABEL} (nominal token counts).")


def plot_vs_seconds(points: Sequence[RunSummary], out_dir: Path) -> PlotFiles:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    # Joined in ratio order: measured times are noisy and need not grow monotonically with the ratio.
    ours = sorted(_ours(points, lambda p: p.efficiency.seconds_per_video), key=lambda t: t[1].token_kept_ratio or 0.0)
    _errorbar(ax, ours, "acc", None, color="#0969da", label=_ours_label(points))
    _annotate_ours(ax, ours)
    ax.set_xlabel("seconds per video (all dimensions' captions, measured on this machine)")
    ax.set_ylabel("VDCscore accuracy (%)")
    ax.set_title("VDCscore vs generation time per video")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out_dir, "vdcscore_vs_seconds",
                 "VDCscore accuracy vs measured seconds per video (video decode, preprocessing, ViT and generation "
                 "of every dimension's caption). No published timing is comparable (different hardware), so none is drawn.")


def plot_per_dimension(points: Sequence[RunSummary], out_dir: Path, sweep: list[RatioSweepPoint]) -> PlotFiles:
    fig, axes = plt.subplots(1, len(DIMENSIONS), figsize=(16, 3.8), sharey=False)
    ours = _ours(points, lambda p: p.efficiency.visual_tokens_per_frame)
    for ax, dim in zip(axes, DIMENSIONS, strict=True):
        _published_sweep(ax, sweep, lambda p: p.code_tokens_per_frame, dim, "code-formula tokens",
                         color="#6e7781", lw=1.2, marker=".")
        _errorbar(ax, ours, "acc", dim, color="#0969da", label=f"{_ours_label(points)}, measured")
        ax.set_title(dim.replace("_", " "))
        ax.set_xlabel("visual tokens per frame")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle("Per-dimension VDCscore accuracy vs visual tokens per frame")
    return _save(fig, out_dir, "per_dimension",
                 "Per-dimension accuracy vs tokens per frame (ours measured, with 95% CIs; published sweep on the "
                 "code-formula axis).")


def plot_token_check(points: Sequence[RunSummary], out_dir: Path, sweep: list[RatioSweepPoint]) -> PlotFiles:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p.ratio for p in sweep], [p.code_tokens_per_frame for p in sweep], color="#6e7781", marker=".",
            label="code formula 729 − 31·⌊729(1−ρ)/32⌋")
    ours = sorted((p.token_kept_ratio, p.efficiency.visual_tokens_per_frame) for p in points
                  if p.token_kept_ratio is not None and p.efficiency.visual_tokens_per_frame is not None)
    if ours:
        ax.plot(*zip(*ours, strict=True), "o", color="#0969da", label="measured (ours)")
    ax.set_xlabel("token_kept_ratio ρ")
    ax.set_ylabel("visual tokens per frame")
    ax.set_title("Measured tokens per frame vs the formula")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out_dir, "tokens_per_frame",
                 "Measured visual tokens per frame against the code formula (they should coincide on 378 px input).")


def write_plots(points: Sequence[RunSummary], out_dir: Path, relative: RelativeCurve | None = None) -> list[PlotFiles]:
    """All plots for the given settings (one or many) into ``out_dir``: the VDCscore plots where VDC was
    scored, every task's metric where lmms-eval reported any, the relative-performance curve where a sweep
    ran paper metrics."""
    plots = []
    if any(p.overall() for p in points):
        sweep = load_ratio_sweep()
        plots += [plot_vs_tokens(points, out_dir, sweep), plot_vs_seconds(points, out_dir),
                  plot_per_dimension(points, out_dir, sweep), plot_token_check(points, out_dir, sweep)]
    if task_panels(points):
        plots += [plot_tasks_vs_ratio(points, out_dir), plot_tasks_vs_tokens(points, out_dir)]
    if relative is not None and relative.metrics:
        plots.append(plot_relative(relative, out_dir, published_relative_curve(relative.metrics)))
    return plots


# --- any task: metrics vs ratio and tokens, the relative-performance curve -------------------------------


def task_panels(points: Sequence[RunSummary]) -> list[tuple[str, str]]:
    """(task, metric) panels to draw: a paper task's paper metric, every metric of other tasks and groups."""
    paper = {m.task: m.metric for m in PAPER_METRICS}
    tasks = sorted({t for p in points for t in p.task_metrics})
    panels = []
    for task in tasks:
        metrics = sorted({m for p in points for m in (p.task_metrics.get(task).metrics if task in p.task_metrics else {})})
        panels += [(task, paper[task])] if paper.get(task) in metrics else [(task, m) for m in metrics]
    return panels


def measured_tokens_per_frame(p: RunSummary) -> float | None:
    """Visual tokens per frame (an image is one frame) as measured in this run: from the VDC samples' stats,
    else the adapter's run-wide mean over every task's requests (lmms-eval's throughput block)."""
    if p.efficiency.visual_tokens_per_frame is not None:
        return p.efficiency.visual_tokens_per_frame
    return p.throughput.get("avg_visual_tokens_per_frame")


def _task_grid(points: Sequence[RunSummary], out_dir: Path, name: str, x_of, xlabel: str, caption: str) -> PlotFiles:
    panels = task_panels(points)
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax, (task, metric) in zip(axes.flat, panels, strict=False):
        drawn = []
        for p in sorted(points, key=lambda q: q.token_kept_ratio or 0.0):
            value = p.task_metrics[task].metrics.get(metric) if task in p.task_metrics else None
            x = x_of(p)
            if value is not None and x is not None:
                drawn.append((x, value, p))
        if drawn:
            ax.errorbar([x for x, _, _ in drawn], [v.value for _, v, _ in drawn],
                        yerr=[v.stderr or 0.0 for _, v, _ in drawn], marker="o", capsize=3, color="#0969da")
            for x, v, p in drawn:
                ax.annotate(_label(p), (x, v.value), fontsize=6, color="#0969da", xytext=(3, -9),
                            textcoords="offset points")
        ax.set_title(f"{task}\n{metric}", fontsize=8)
        ax.set_xlabel(xlabel, fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Each task's metric ({_ours_label(points)})")
    fig.tight_layout()
    return _save(fig, out_dir, name, caption)


def plot_tasks_vs_ratio(points: Sequence[RunSummary], out_dir: Path) -> PlotFiles:
    return _task_grid(points, out_dir, "tasks_vs_ratio", lambda p: p.token_kept_ratio, "token_kept_ratio ρ",
                      "Every task's metric (lmms-eval's value, its stderr as error bar where lmms-eval gives one) vs "
                      "token_kept_ratio; a paper task shows the metric the paper reports.")


def plot_tasks_vs_tokens(points: Sequence[RunSummary], out_dir: Path) -> PlotFiles:
    return _task_grid(points, out_dir, "tasks_vs_tokens", measured_tokens_per_frame,
                      "measured visual tokens per frame",
                      "Every task's metric vs the visual tokens per frame (an image is one frame) measured at that "
                      "ratio: from the VDC samples' stats where a VDC task ran, else the adapter's run-wide mean over "
                      "all requests (lmms-eval's throughput block). Per-task token counts are not recorded for tasks "
                      "whose samples carry no stats.")


def _subset_label(columns: Sequence[str]) -> str:
    if len(columns) == len(PAPER_METRICS):
        return f"all {len(PAPER_METRICS)} paper metrics"
    return f"the same {len(columns)} of {len(PAPER_METRICS)} paper metrics"


def plot_relative(curve: RelativeCurve, out_dir: Path, published: Sequence[RelativePoint]) -> PlotFiles:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    label = _subset_label(curve.metrics)
    pub_x = [p.ratio for p in published]
    ax.plot(pub_x, [p.mean for p in published], color="#6e7781", marker=".",
            label=f"AuroraCap-7B published sweep, {label}")
    ax.fill_between(pub_x, [p.mean - p.std for p in published], [p.mean + p.std for p in published],
                    color="#8c959f", alpha=0.2, label="published ±1 std (population)")
    ours_x = [p.ratio for p in curve.points]
    ax.plot(ours_x, [p.mean for p in curve.points], color="#0969da", marker="o", label=f"our sweep, {label}")
    ax.fill_between(ours_x, [p.mean - p.std for p in curve.points], [p.mean + p.std for p in curve.points],
                    color="#0969da", alpha=0.15, label="ours ±1 std (population)")
    ax.set_xlabel("token_kept_ratio ρ")
    ax.set_ylabel("relative performance (% of each metric's best over the sweep)")
    ax.set_title(f"Average relative performance over {len(curve.metrics)} metrics")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, out_dir, "relative_performance",
                 f"Each metric divided by its own best value over the sweep, then averaged per ratio (band: ±1 "
                 f"population std across metrics), over {label}: {', '.join(curve.metrics)}. Grey: the published "
                 "AuroraCap-7B sweep recomputed over the same metrics at its 12 ratios (normalised over those "
                 "ratios); ours is normalised over the ratios swept here.")
