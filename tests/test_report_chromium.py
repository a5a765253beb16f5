"""The HTML pages render in real headless Chromium without console messages, showing tables and plots."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vdc_bench.leaderboard.published import published_entries
from vdc_bench.leaderboard.render import write_rendered

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.slow,  # a real browser
              pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: run make browser")]


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_console_detector_sees_page_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>")
    result = chromium(page, tmp_path, "--dump-dom")
    assert any("undefinedFunction" in m for m in console_messages(result.stderr))


def _blue_pixels(png: Path) -> int:
    """Pixels of our series colour (#0969da): present only where a plot of ours is drawn."""
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    return int((np.abs(rgb - np.array([9, 105, 218])) < 30).all(axis=-1).sum())


def test_sweep_report_renders_with_table_and_plots(report_sweep_run, tmp_path):
    page = report_sweep_run["output"] / "report.html"
    dom = chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0
    assert console_messages(dom.stderr) == []
    summary = dom.stdout.split('<table id="summary">')[1].split("</table>")[0]
    assert summary.count("<tr>") == 1 + 3  # header + one row per ratio
    assert dom.stdout.count("<svg") == 6  # 4 VDCscore plots + every task's metric vs ratio and vs tokens
    shot = tmp_path / "report.png"
    result = chromium(page, tmp_path, "--window-size=1400,2000", f"--screenshot={shot}", "--hide-scrollbars")
    assert console_messages(result.stderr) == []
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2000)
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # not blank
    assert _blue_pixels(shot) > 200  # the plots (our blue series) are on screen


def test_leaderboard_page_renders(tmp_path):
    _, html = write_rendered(published_entries(), tmp_path / "out")
    dom = chromium(html, tmp_path, "--dump-dom")
    assert console_messages(dom.stderr) == []
    assert dom.stdout.count('<tr class="published">') == 43
    shot = tmp_path / "board.png"
    chromium(html, tmp_path, "--window-size=1400,900", f"--screenshot={shot}")
    assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20
