"""Plots and reports are built from saved results alone."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from vdc_bench.reporting.report import write_report
from vdc_bench.runs.run_summary import summarize_run
from vdc_bench.runs.sweep import SUMMARY_FILE, SWEEP_FILE, ratio_dir


def _non_blank(path) -> bool:
    image = Image.open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    return image.width > 200 and image.height > 200 and len(colours) > 20


@pytest.mark.slow
def test_report_from_the_sweep_file_alone(report_sweep_run, tmp_path):
    # Only sweep.json: no lmms-eval outputs, no scores, no judge, no model.
    shutil.copy(report_sweep_run["output"] / SWEEP_FILE, tmp_path / SWEEP_FILE)
    html_path, md_path = write_report(tmp_path)
    for name in ("vdcscore_vs_tokens", "vdcscore_vs_seconds", "per_dimension", "tokens_per_frame"):
        assert _non_blank(tmp_path / "plots" / f"{name}.png"), name
        assert (tmp_path / "plots" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    md = md_path.read_text()
    for ratio in ("ρ=0.1", "ρ=0.5", "ρ=1"):
        assert f"| {ratio} |" in md
    assert "ρ=0.5 − ρ=0.1" in md and "DEMO" in md
    html = html_path.read_text()
    assert html.count("<svg") == 6  # 4 VDCscore plots + every task's metric vs ratio and vs tokens
    assert "published (judge Llama-3.1-8B)" in html  # published reference points are labelled in the plots
    assert "dtype=float32, device=cpu, decode=hf, processes=1, max_batch_size=1" in html  # how captions were computed


@pytest.mark.slow
def test_run_summary_is_reproducible_from_the_run_folder(report_sweep_run):
    folder = ratio_dir(report_sweep_run["output"], 0.5)
    saved = json.loads((folder / SUMMARY_FILE).read_text())
    again = summarize_run(folder, label=saved["label"], kind="demo", versions=saved["versions"]).to_dict()
    assert again == saved


@pytest.mark.slow
def test_report_of_a_single_run_folder(report_sweep_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ratio_dir(report_sweep_run["output"], 1.0), run)
    html_path, _ = write_report(run)
    html = html_path.read_text()
    assert "VDC run: run" in html and html.count("<svg") == 6
    assert "stub-judge" in html


def test_report_of_a_folder_without_results_names_the_folder(tmp_path, capsys):
    from vdc_bench.cli import main

    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "no lmms-eval *_results.json" in err
