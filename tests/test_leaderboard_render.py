"""Leaderboard rendering (Markdown + HTML) and adding rows from our runs."""

from __future__ import annotations

import re

import pytest

from vdc_bench.cli import main
from vdc_bench.leaderboard.board import load_board
from vdc_bench.leaderboard.published import published_entries
from vdc_bench.leaderboard.render import render_html, render_markdown


def _table_models(markdown: str) -> list[str]:
    return [line.split("|")[2].strip() for line in markdown.splitlines() if re.match(r"^\| \d+ \|", line)]


def test_published_board_is_sorted_by_average_with_frames_and_tokens():
    md = render_markdown(published_entries())
    models = _table_models(md)
    assert len(models) == 43
    assert models[:2] == ["AVC-DPO-7B", "Cockatiel-13B"]
    assert models[-1] == "Llama-3.1-8B"  # the blind text-only baseline, 18.98
    header = next(line for line in md.splitlines() if line.startswith("| # |"))
    assert "| #F | TPF |" in header
    aurora = next(line for line in md.splitlines() if "| AuroraCap-7B |" in line)
    assert "| 10 | 224 |" in aurora and "38.21 (mean 38.36)" in aurora
    assert "best-of-ratios" in md  # the flag text is listed under the table


def test_html_page_is_self_contained():
    html = render_html(published_entries(), generated="2026-01-01 00:00 UTC")
    assert html.count('<tr class="published">') == 43
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "<style>" in html


@pytest.mark.slow
def test_demo_rows_from_a_sweep_are_added_marked_and_rendered(report_sweep_run, tmp_path, capsys):
    board = tmp_path / "results" / "leaderboard.json"
    assert main(["leaderboard", "--board", str(board), "add", str(report_sweep_run["output"])]) == 0
    assert "3 added" in capsys.readouterr().out
    entries = load_board(board)
    demo = [e for e in entries if e.kind == "demo"]
    assert len(entries) == 46 and len(demo) == 3
    for e in demo:
        assert e.note == "demo, tiny random model"
        assert e.judge_model == "stub-judge" and e.tokens_per_frame_kind == "measured"
        assert any("not comparable with published rows" in f for f in e.flags)
        assert e.run_config["token_kept_ratio"] in report_sweep_run["ratios"]
        assert e.run_config["runtime"]["dtype"] == "float32" and e.run_config["runtime"]["processes"] == 1
    # Adding the same results again replaces instead of duplicating.
    assert main(["leaderboard", "--board", str(board), "add", str(report_sweep_run["output"])]) == 0
    assert "0 added, 3 replaced" in capsys.readouterr().out
    assert main(["leaderboard", "--board", str(board), "render"]) == 0
    md = (board.parent / "leaderboard.md").read_text()
    assert md.count("(demo, tiny random model)") == 3
    html = (board.parent / "leaderboard.html").read_text()
    assert html.count('<tr class="demo">') == 3
