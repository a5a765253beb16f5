"""``vdc-bench report DIR``: self-contained report.html + report.md (+ plots) for a sweep or run folder."""

from __future__ import annotations

from pathlib import Path

from vdc_bench.reporting.report import write_report


def register(sub) -> None:
    p = sub.add_parser("report", help="write report.html, report.md and plots for a sweep or run folder")
    p.add_argument("folder", type=Path, help="a sweep output folder or an lmms-eval output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    html, md = write_report(args.folder)
    print(f"report: {html}\nsummary: {md}")
    return 0
