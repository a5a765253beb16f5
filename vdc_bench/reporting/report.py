"""``report.html`` (one self-contained page: inline CSS, inline SVG plots) and ``report.md`` for an output
folder: a sweep (``sweep.json``) or a single lmms-eval run (results + VDCscore scores).

Everything is read from saved files; nothing is re-run or re-judged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.errors import VdcBenchError
from vdc_bench.leaderboard.published import published_entries, published_relative_curve
from vdc_bench.records import DimensionScores, OverallScores, PairedDifference, RelativeCurve, RunSummary
from vdc_bench.render.html_page import Markup, esc, page, table
from vdc_bench.render.markdown_table import markdown_table
from vdc_bench.reporting.plots import PlotFiles, measured_tokens_per_frame, write_plots
from vdc_bench.runs.environment import environment_versions
from vdc_bench.runs.paper_metrics import BY_COLUMN, PAPER_METRICS
from vdc_bench.runs.run_summary import summarize_run
from vdc_bench.runs.sweep import SWEEP_FILE, load_sweep
from vdc_bench.scoring.judge_settings import redact_url

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
PLOTS_DIR = "plots"
_SVG_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


@dataclass
class ReportInput:
    title: str
    points: list[RunSummary]
    paired: list[PairedDifference]
    config: dict[str, Any]
    versions: dict[str, str]
    relative: RelativeCurve | None = None


def load_input(folder: Path) -> ReportInput:
    """A sweep folder (``sweep.json``) or any folder holding one lmms-eval run."""
    if not folder.is_dir():
        raise VdcBenchError(f"{folder}: not a folder")
    sweep_path = folder / SWEEP_FILE
    if sweep_path.is_file():
        doc, points = load_sweep(sweep_path)
        return ReportInput(f"token_kept_ratio sweep: {folder.name}", points, doc.paired, doc.config, doc.versions,
                           doc.relative)
    summary = summarize_run(folder)
    return ReportInput(f"VDC run: {folder.name}", [summary], [], summary.config,
                       summary.versions or environment_versions())


# --- formatting ---------------------------------------------------------------------------------------------


def _f(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci(value: float | None, ci: list[float] | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _metric_ci(block: DimensionScores | OverallScores | None, metric: str, digits: int) -> str:
    """``metric`` ("acc" or "score") of a score block with its 95% CI."""
    if block is None:
        return "–"
    return _ci(getattr(block, metric), getattr(block, f"{metric}_ci95"), digits)


def _setting(p: RunSummary) -> str:
    return f"ρ={p.token_kept_ratio:g}" if p.token_kept_ratio is not None else p.label


SUMMARY_HEADERS = [
    "setting", "VDCscore acc [95% CI]", "score [95% CI]", "frames", "tokens/frame (measured)", "tokens/video",
    "s/video", "TTFT ms", "decode tok/s", "output tokens", "truncated", "peak mem MB", "failed captions",
    "judge calls", "judge cache hits", "judge s",
]


def summary_rows(points: Sequence[RunSummary]) -> list[list[str]]:
    rows = []
    for p in points:
        e, j = p.efficiency, p.judge_usage
        # Never a bare number where it is not a result: the cell itself says why.
        mark = ("NOT VALID (QAs not judged) " if p.judging_failure
                else "RANDOM WEIGHTS " if p.random_weights and p.kind != "demo" else "")
        rows.append([
            _setting(p), mark + _metric_ci(p.overall(), "acc", 2), mark + _metric_ci(p.overall(), "score", 3),
            _f(e.frames_per_video, 1),
            _f(e.visual_tokens_per_frame, 1), _f(e.visual_tokens_per_video, 0), _f(e.seconds_per_video, 2),
            _f(e.ttft_ms, 1), _f(e.decode_tok_per_s, 1), _f(e.output_tokens, 1), str(e.truncated),
            _f(e.peak_mem_mb, 0), f"{e.failed}/{e.captions}", str(j.calls) if j else "–",
            str(j.cache_hits) if j else "–", _f(j.seconds if j else None, 1),
        ])
    return rows


def dimension_rows(points: Sequence[RunSummary], metric: str, digits: int) -> list[list[str]]:
    rows = []
    for p in points:
        cells = []
        for d in DIMENSIONS:
            block = p.dimension(d)
            text = _metric_ci(block, metric, digits)
            if block is not None:
                text += f" (n={block.n_videos})"
            cells.append(text)
        rows.append([_setting(p), *cells])
    return rows


def failure_rows(points: Sequence[RunSummary]) -> list[list[str]]:
    rows = []
    for p in points:
        for d in DIMENSIONS:
            block = p.dimension(d)
            failures = block.failures if block else {}
            if any(failures.values()):
                rows.append([_setting(p), f"{d} (QAs)", ", ".join(f"{k}: {v}" for k, v in failures.items() if v)])
        rows += [[_setting(p), f.sample_key, f.error] for f in p.failures]
    return rows


def _comparison_acc(block: dict[str, Any] | None) -> str:
    return _ci(block["acc"], block["acc_ci95"], 2) if block else "–"


def paired_rows(paired: Sequence[PairedDifference]) -> list[list[str]]:
    rows = []
    for pair in paired:
        comp = pair.comparison  # scoring.aggregate.compare_paired's blocks
        cells = [_comparison_acc(comp["dimensions"].get(d)) for d in DIMENSIONS]
        rows.append([f"ρ={pair.a:g} − ρ={pair.b:g}", _comparison_acc(comp["vdcscore"]), *cells])
    return rows


def judge_lines(points: Sequence[RunSummary]) -> list[str]:
    lines = []
    seen = set()
    for p in points:
        judge, proto = p.judge, p.protocol
        if judge is None or proto is None or (judge.model, proto.prompt_sha256) in seen:
            continue
        seen.add((judge.model, proto.prompt_sha256))
        # Files written before same_prompts_as_published existed said the same with comparable_with_published.
        same_prompts = (proto.same_prompts_as_published if proto.same_prompts_as_published is not None
                        else proto.comparable_with_published)
        lines.append(
            f"Judge {judge.model} ({judge.source}, {judge.base_url_host}): "
            f"{judge.description or 'no description'}; temperature {judge.temperature}, "
            f"seed {judge.seed}, max_tokens {judge.max_tokens}. Protocol {proto.name} "
            f"(prompts sha256 {str(proto.prompt_sha256)[:12]}), "
            + ("same prompts as published VDCscore" if same_prompts else "constrained JSON prompts")
            + ("." if proto.comparable_with_published else "; NOT comparable with published VDCscore.")
        )
    if not lines:
        lines.append("No VDCscore scores found: no VDC task ran, or it was not judged.")
    lines.append("The published numbers were judged by Llama-3.1-8B; a different judge gives different scales.")
    return lines


def task_metric_headers(points: Sequence[RunSummary]) -> list[str]:
    return ["task", "metric", *[_setting(p) for p in points]]


def task_metric_rows(points: Sequence[RunSummary]) -> list[list[str]]:
    """One row per task (or group) and metric as lmms-eval reported it; ± its stderr where it gave one."""
    rows = []
    tasks = sorted({t for p in points for t in p.task_metrics})
    for task in tasks:
        metrics = sorted({m for p in points if task in p.task_metrics for m in p.task_metrics[task].metrics})
        for metric in metrics:
            cells = []
            for p in points:
                value = p.task_metrics[task].metrics.get(metric) if task in p.task_metrics else None
                cells.append("–" if value is None else f"{value.value:.4g}"
                             + (f" ± {value.stderr:.2g}" if value.stderr is not None else ""))
            rows.append([task, metric, *cells])
    return rows


def token_rows(points: Sequence[RunSummary]) -> list[list[str]]:
    rows = []
    for p in points:
        source = ("VDC samples' stats" if p.efficiency.visual_tokens_per_frame is not None
                  else "adapter's run-wide mean (lmms-eval throughput)" if measured_tokens_per_frame(p) is not None
                  else "not measured")
        rows.append([_setting(p), _f(measured_tokens_per_frame(p), 1), source,
                     p.token_kept_ratio_source or "–"])
    return rows


def relative_lines(curve: RelativeCurve | None) -> list[str]:
    """What the relative-performance curve covers, and what it leaves out."""
    if curve is None:
        return []
    ran = [BY_COLUMN[c].label for c in curve.metrics]
    lines = [f"Over {len(curve.metrics)} of the paper's {len(PAPER_METRICS)} metrics: {', '.join(ran) or 'none'}."]
    not_run = [m.label for m in PAPER_METRICS if m.column not in curve.metrics and m.column not in curve.excluded]
    if not_run:
        lines.append(f"Not run in this sweep: {', '.join(not_run)}.")
    lines += [f"Left out: {BY_COLUMN[c].label}: {why}." for c, why in curve.excluded.items()]
    if curve.metrics and len(curve.metrics) < len(PAPER_METRICS):
        lines.append(f"The published curve is recomputed over the same {len(curve.metrics)} metrics, not all "
                     f"{len(PAPER_METRICS)}: a partial sweep is not comparable with the paper's full curve.")
    return lines


def relative_rows(curve: RelativeCurve) -> list[list[str]]:
    published = {p.ratio: p for p in published_relative_curve(curve.metrics)} if curve.metrics else {}
    rows = []
    for point in curve.points:
        pub = published.get(point.ratio)
        rows.append([f"ρ={point.ratio:g}", f"{point.mean:.2f} % ± {point.std:.2f}",
                     f"{pub.mean:.2f} % ± {pub.std:.2f}" if pub else "– (ratio not in the published sweep)"])
    return rows


TOKEN_HEADERS = ["setting", "visual tokens per frame", "measured from", "token_kept_ratio from"]
RELATIVE_HEADERS = ["setting", "ours: mean ± std (population)", "published, same metrics: mean ± std"]


def _reference_rows() -> list[list[str]]:
    rows = []
    for entry in published_entries():
        if entry.model.startswith("AuroraCap"):
            rows.append([f"{entry.model} (published, judge {entry.judge_model})", _f(entry.average.acc),
                         _f(entry.average.score), str(entry.frames), f"{entry.tokens_per_frame:g} (nominal)",
                         "; ".join(entry.flags)])
    return rows


def _inline_svg(path: Path) -> Markup:
    return Markup(_SVG_HEAD.sub("", path.read_text(), count=1))


def _banners(points: Sequence[RunSummary]) -> list[str]:
    """Warnings shown above every number of the report: what makes its numbers something other than results."""
    out = []
    if any(p.kind == "demo" for p in points):
        out.append("DEMO: tiny random-weight model and demo videos. The numbers test the pipeline; they say nothing "
                   "about caption quality.")
    random = [_setting(p) for p in points if p.random_weights and p.kind != "demo"]
    if random:
        out.append(f"RANDOM WEIGHTS ({', '.join(random)}): the checkpoint is marked as random weights; its "
                   "captions are gibberish and its numbers are not results of any model.")
    out += [f"NOT A VALID VDCscore ({_setting(p)}): {p.judging_failure}." for p in points if p.judging_failure]
    out += [f"DAMAGED VIDEOS ({_setting(p)}): {len(p.damaged_videos)} captioned from only the frames that decode "
            f"(truncated or corrupt files): {', '.join(p.damaged_videos)}." for p in points if p.damaged_videos]
    out += [f"RESUMED ({_setting(p)}): {p.efficiency.cached} of {p.efficiency.captions} captions were read from the "
            "caption cache of an earlier, killed process; their times (s/video, TTFT, decode tok/s, memory) were "
            "measured by that process." for p in points if p.efficiency.cached]
    return out


# --- writers --------------------------------------------------------------------------------------------------


def render_markdown(inp: ReportInput, plots: Sequence[PlotFiles], folder: Path) -> str:
    out = [f"# {inp.title}\n"]
    out += [f"> **{banner}**\n" for banner in _banners(inp.points)]
    out += ["## Quality and cost per setting\n", markdown_table(SUMMARY_HEADERS, summary_rows(inp.points))]
    out += ["## Per-dimension accuracy (95% CI, n = videos)\n",
            markdown_table(["setting", *DIMENSIONS], dimension_rows(inp.points, "acc", 2))]
    out += ["## Per-dimension score (0–5)\n",
            markdown_table(["setting", *DIMENSIONS], dimension_rows(inp.points, "score", 3))]
    if any(p.task_metrics for p in inp.points):
        out += ["## Every task's metrics (lmms-eval results)\n",
                markdown_table(task_metric_headers(inp.points), task_metric_rows(inp.points))]
        out += ["## Measured visual tokens per frame\n",
                markdown_table(TOKEN_HEADERS, token_rows(inp.points))]
    if inp.relative is not None:
        out.append("## Relative performance over the paper's metrics\n")
        out += [f"* {line}" for line in relative_lines(inp.relative)]
        if inp.relative.metrics:
            out += ["", markdown_table(RELATIVE_HEADERS, relative_rows(inp.relative))]
    if inp.paired:
        out += ["## Paired differences between adjacent ratios (accuracy points, 95% CI)\n",
                markdown_table(["pair", "VDCscore", *DIMENSIONS], paired_rows(inp.paired))]
    out.append("## Plots\n")
    out += [f"* [{p.name}]({p.png.relative_to(folder)}) ([svg]({p.svg.relative_to(folder)})): {p.caption}"
            for p in plots]
    fails = failure_rows(inp.points)
    out.append(f"\n## Failures\n\n{len(fails)} entries" + (" (see report.html)." if fails else "."))
    out += ["\n## Judge and protocol\n", *[f"* {line}" for line in judge_lines(inp.points)]]
    out.append(f"\nFull report: {REPORT_HTML}\n")
    return "\n".join(out)


def render_html(inp: ReportInput, plots: Sequence[PlotFiles], generated: str) -> str:
    body = [f'<p class="bad"><b>{esc(banner)}</b></p>' for banner in _banners(inp.points)]
    body.append("<h2>Quality and cost per setting</h2>")
    body.append(table(SUMMARY_HEADERS, summary_rows(inp.points), table_id="summary"))
    body.append('<p class="sub">Efficiency numbers are measured per request on the machine named below '
                "(shared CPU machines are noisy). s/video sums the captions of all dimensions of a video.</p>")
    body.append("<h2>Per-dimension accuracy (95% CI, n = videos)</h2>")
    body.append(table(["setting", *DIMENSIONS], dimension_rows(inp.points, "acc", 2), table_id="dimensions-acc"))
    body.append("<h2>Per-dimension score (0–5)</h2>")
    body.append(table(["setting", *DIMENSIONS], dimension_rows(inp.points, "score", 3), table_id="dimensions-score"))
    if any(p.task_metrics for p in inp.points):
        body.append("<h2>Every task's metrics</h2>")
        body.append(table(task_metric_headers(inp.points), task_metric_rows(inp.points), left_columns=2,
                          table_id="task-metrics"))
        body.append('<p class="sub">As lmms-eval wrote them in each setting\'s results file (its scale: CIDEr and '
                    "accuracies of the built-in tasks are fractions, VDC accuracies percent); ± its standard error "
                    "where lmms-eval computed one.</p>")
        body.append("<h2>Measured visual tokens per frame</h2>")
        body.append(table(TOKEN_HEADERS, token_rows(inp.points), left_columns=4, table_id="tokens"))
    if inp.relative is not None:
        body.append("<h2>Relative performance over the paper's metrics</h2><ul>"
                    + "".join(f"<li>{esc(x)}</li>" for x in relative_lines(inp.relative)) + "</ul>")
        if inp.relative.metrics:
            body.append(table(RELATIVE_HEADERS, relative_rows(inp.relative), table_id="relative"))
    if inp.paired:
        body.append("<h2>Paired differences between adjacent ratios</h2>")
        body.append(table(["pair", "VDCscore", *DIMENSIONS], paired_rows(inp.paired), table_id="paired"))
        body.append('<p class="sub">Accuracy points, higher ratio minus lower, on the videos both settings scored; '
                    "95% bootstrap CIs clustered by video.</p>")
    body.append("<h2>Plots</h2>")
    for p in plots:
        body.append(f'<figure id="plot-{esc(p.name)}">{_inline_svg(p.svg)}<figcaption>{esc(p.caption)}</figcaption>'
                    "</figure>")
    body.append("<h2>Published reference</h2>")
    body.append(table(["model", "avg acc", "avg score", "frames", "tokens/frame", "flags"], _reference_rows(),
                      left_columns=6))
    fails = failure_rows(inp.points)
    body.append(f"<h2>Failures ({len(fails)})</h2>")
    body.append(table(["setting", "sample / dimension", "error"], fails, left_columns=3, table_id="failures")
                if fails else "<p>No failed captions or judge calls.</p>")
    body.append("<h2>Judge and protocol</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in judge_lines(inp.points))
                + "</ul>")
    body.append("<h2>Configuration and versions</h2>")
    # Sweep files written before URLs were redacted may still hold credentials: never shown.
    rows = [[k, redact_url(v) if k.endswith("_url") and isinstance(v, str) else str(v)]
            for k, v in sorted(inp.config.items())]
    rows += [[f"version: {k}", v] for k, v in sorted(inp.versions.items())]
    rows += [[f"runtime ({_setting(p)})", ", ".join(f"{k}={v}" for k, v in p.runtime.items())]
             for p in inp.points if p.runtime]
    rows += [[f"results ({_setting(p)})", p.results_path] for p in inp.points]
    body.append(table(["key", "value"], rows, left_columns=2, table_id="config"))
    return page(inp.title, "".join(body), subtitle=f"generated {generated}")


def write_report(folder: Path) -> tuple[Path, Path]:
    """Write plots, ``report.html`` and ``report.md`` into ``folder``; returns (html, md)."""
    folder = Path(folder)
    inp = load_input(folder)
    plots = write_plots(inp.points, folder / PLOTS_DIR, inp.relative)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    html_path, md_path = folder / REPORT_HTML, folder / REPORT_MD
    atomic_write_text(html_path, render_html(inp, plots, generated))
    atomic_write_text(md_path, render_markdown(inp, plots, folder))
    return html_path, md_path
