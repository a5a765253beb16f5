"""End to end: ``vdc-bench sweep`` over standard tasks and VDC together, on fixture data, with the report in
headless Chromium.

Which tasks: one lmms-eval run of 12 of the 13 group members at ``--limit 1`` took 210 s for a
single ratio on the shared 2-core machine, and the captioning tasks' METEOR alone (one Java start per task)
took 18 s each, 53 s when the machine was loaded; a three-ratio sweep of the whole group, or even with one
captioning task, blows this test's budget (~4 min). The sweep therefore runs one member of each other kind:
image QA (``gqa``), judged video QA (``msvd_qa``) and VDC (``vdc``, five dimensions). The group's other
standard members, the captioning tasks with their real CIDEr code included, run offline on their
fixtures in tests/test_standard_tasks.py; the group's membership is checked in tests/test_sweep_paper_metrics.py and below
against lmms-eval's real task index.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import pytest

from vdc_bench.leaderboard.from_runs import entry_from_summary, summaries_from_path
from vdc_bench.leaderboard.published import published_relative_curve
from vdc_bench.lmms_tasks import TASKS_DIR
from vdc_bench.records import DIMENSIONS
from vdc_bench.runs.paper_metrics import PAPER_METRICS
from vdc_bench.runs.sweep import DONE_FILE, SWEEP_FILE, load_sweep, ratio_dir

pytestmark = pytest.mark.slow  # lmms-eval subprocesses, Java, a browser

SUBSET = ("gqa", "msvd_qa", "vdc")
RATIOS = (0.1, 0.4, 1.0)
LEAF_TASKS = ("gqa", "msvd_qa", *(f"vdc_{d}" for d in DIMENSIONS))


@pytest.fixture(scope="session")
def paper_sweep_run(tmp_path_factory, model_tiny_checkpoints):
    """A finished sweep of SUBSET over RATIOS (tiny random AuroraCap, stub judge), then the same command
    again (every ratio reused). Returns {"output", "first", "again", "before"}: the two completed processes and
    the mtimes of the ratio folders' files before the second."""
    if shutil.which("java") is None:
        pytest.skip("java missing (pycocoevalcap): run make java")
    from paper_fixtures import stage_paper_data

    from doubles.stub_judge_server import StubJudgeServer

    root = tmp_path_factory.mktemp("paper_sweep")
    env = {**os.environ, **stage_paper_data(root / "data"), "VDC_VERDICT_CACHE": str(root / "verdicts.sqlite")}
    out = root / "sweep"
    with StubJudgeServer() as stub:
        cmd = [sys.executable, "-m", "vdc_bench", "sweep", "--tasks", ",".join(SUBSET),
               "--ratios", ",".join(f"{r:g}" for r in RATIOS), "--output", str(out),
               "--model_args", f"pretrained={model_tiny_checkpoints['xtuner']},num_frm=2", "--limit", "1",
               "--gen_kwargs", "max_new_tokens=8", "--judge-base-url", stub.url, "--judge-model", "stub-judge"]
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        assert first.returncode == 0, first.stderr[-4000:]
        before = _ratio_files(out)
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-4000:]
    return {"output": out, "first": first, "again": again, "before": before}


def _ratio_files(out) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for r in RATIOS for p in ratio_dir(out, r).rglob("*")
            if p.is_file()}


def test_sweep_json_carries_every_tasks_metrics_per_ratio(paper_sweep_run):
    doc, points = load_sweep(paper_sweep_run["output"] / SWEEP_FILE)
    assert [p.token_kept_ratio for p in points] == list(RATIOS)
    for p in points:
        assert p.token_kept_ratio_source == "samples"  # the VDC samples' stats recorded it
        assert set(LEAF_TASKS) | {"vdc"} <= set(p.task_metrics)
        assert set(p.task_metrics["gqa"].metrics) == {"exact_match"}
        assert set(p.task_metrics["msvd_qa"].metrics) == {"judge_accuracy", "judge_score"}
        for task in LEAF_TASKS:
            assert p.task_metrics[task].samples == 1  # --limit 1
            for value in p.task_metrics[task].metrics.values():
                assert math.isfinite(value.value)
        for dim in DIMENSIONS:  # lmms-eval's per-dimension vdc_acc is our VDCscore's
            assert p.task_metrics[f"vdc_{dim}"].metrics["vdc_acc"].value == pytest.approx(p.dimension(dim).acc)
        assert p.judge_model == "stub-judge"
    # the adapter measured fewer visual tokens per frame at lower ratios (the tiny ViT has 16 per frame)
    tokens = [p.efficiency.visual_tokens_per_frame for p in points]
    assert tokens[0] < tokens[1] < tokens[2] == 16
    assert [p.throughput["avg_visual_tokens_per_frame"] for p in points][-1] == 16


def test_sweep_json_holds_the_relative_curve_recomputed_from_its_own_metrics(paper_sweep_run):
    doc, points = load_sweep(paper_sweep_run["output"] / SWEEP_FILE)
    curve = doc.relative
    ran = {m.column: m for m in PAPER_METRICS if m.task in LEAF_TASKS}
    # every paper metric the sweep ran is either in the curve or left out with a reason; nothing else enters
    assert set(curve.metrics) | set(curve.excluded) == set(ran) and curve.metrics
    assert all("not positive" in why for why in curve.excluded.values())  # random weights: e.g. GQA 0
    assert [p.ratio for p in curve.points] == list(RATIOS)
    for i, point in enumerate(curve.points):
        rel = []
        for column in curve.metrics:
            spec = ran[column]
            values = [p.task_metrics[spec.task].metrics[spec.metric].value for p in points]
            rel.append(values[i] / max(values))
        mean = sum(rel) / len(rel)
        assert point.mean == pytest.approx(100 * mean)
        assert point.std == pytest.approx(100 * math.sqrt(sum((x - mean) ** 2 for x in rel) / len(rel)))


def test_a_finished_sweep_is_reused_ratio_by_ratio(paper_sweep_run):
    out = paper_sweep_run["output"]
    for ratio in RATIOS:
        assert (ratio_dir(out, ratio) / DONE_FILE).is_file()
        assert f"ρ={ratio:g}: already done" in paper_sweep_run["again"].stderr
    assert _ratio_files(out) == paper_sweep_run["before"]  # nothing re-run, re-judged or rewritten
    assert not (out / ".incomplete").exists()


def test_leaderboard_rows_from_the_sweep_carry_every_tasks_metrics(paper_sweep_run):
    summaries = summaries_from_path(paper_sweep_run["output"], kind="run")
    for summary in summaries:
        row = entry_from_summary(summary)
        metrics = row.run_config["task_metrics"]
        assert set(LEAF_TASKS) <= set(metrics)
        assert metrics["gqa"]["metrics"]["exact_match"]["value"] == summary.task_metrics["gqa"].metrics["exact_match"].value


def test_the_report_draws_task_curves_and_the_labelled_published_overlay(paper_sweep_run, tmp_path):
    from test_report_chromium import CHROMIUM, _blue_pixels, chromium, console_messages

    if CHROMIUM is None:
        pytest.skip("chromium missing: run make browser")
    out = paper_sweep_run["output"]
    doc, _ = load_sweep(out / SWEEP_FILE)
    dom = chromium(out / "report.html", tmp_path, "--dump-dom")
    assert dom.returncode == 0 and console_messages(dom.stderr) == []
    html = dom.stdout
    for name in ("tasks_vs_ratio", "tasks_vs_tokens", "relative_performance", "vdcscore_vs_tokens"):
        figure = html.split(f'<figure id="plot-{name}">')[1].split("</figure>")[0]
        assert "<svg" in figure and figure.count("<path") > 20, name
    caption = html.split('<figure id="plot-relative_performance">')[1].split("</figure>")[0]
    n = len(doc.relative.metrics)
    assert f"the same {n} of 17 paper metrics" in caption and "published AuroraCap-7B sweep" in caption
    # the overlay's numbers: the published curve over the same metrics, at the swept ratios
    relative = html.split('<table id="relative">')[1].split("</table>")[0]
    published = {p.ratio: p for p in published_relative_curve(doc.relative.metrics)}
    for ratio in RATIOS:
        assert f"{published[ratio].mean:.2f} % ± {published[ratio].std:.2f}" in relative
    assert "not comparable with the paper&#x27;s full curve" in html or "not comparable with the paper's full curve" in html
    tasks = html.split('<table id="task-metrics">')[1].split("</table>")[0]
    assert all(f'<td class="l">{task}</td>' in tasks for task in LEAF_TASKS)
    shot = tmp_path / "report.png"
    result = chromium(out / "report.html", tmp_path, "--window-size=1400,6000", f"--screenshot={shot}",
                      "--hide-scrollbars")
    assert console_messages(result.stderr) == []
    assert _blue_pixels(shot) > 2000  # our series are drawn in every plot
    assert (out / "plots" / "relative_performance.png").is_file() and (out / "report.md").is_file()


def test_unknown_tasks_and_the_groups_members_are_checked_against_lmms_eval(tmp_path, capsys):
    from vdc_bench.cli import main

    out = tmp_path / "never"
    assert main(["sweep", "--tasks", "gqa,no_such_task", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown task 'no_such_task'" in err and len(err.splitlines()) == 1
    assert not out.exists()  # refused before any work
    from lmms_eval.tasks import TaskManager

    from vdc_bench.runs.task_names import check_task_names

    manager = TaskManager(verbosity="ERROR", include_path=str(TASKS_DIR))
    check_task_names(["auroracap_paper"], manager)
    check_task_names(list(SUBSET), manager)
