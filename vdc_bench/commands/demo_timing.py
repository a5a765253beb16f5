"""Where ``make demo``'s wall time went: setup, captioning, judging, plus the judge's prefix reuse.

Setup is timed by ``scripts/bootstrap_demo.sh`` (``make demo`` runs it first) into a JSON file that
``vdc-bench demo --setup-times`` reads; the rest is timed here. Captioning is the sweep's wall time less
the judging inside it (lmms-eval runs the judge at aggregation), so it includes each ratio's lmms-eval
start-up and model load. The load average is recorded because the machine may be shared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.errors import VdcBenchError
from vdc_bench.judge.llama_log import PromptCacheStats

TIMING_FILE = "timing.json"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def read_setup_times(path: Path | None) -> dict[str, Any] | None:
    """The setup timings ``scripts/bootstrap_demo.sh`` wrote; None when not given."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise VdcBenchError(f"--setup-times {path}: cannot read setup timings ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("wall_s"), int | float):
        raise VdcBenchError(f"--setup-times {path}: no 'wall_s' number (written by scripts/bootstrap_demo.sh?)")
    return data


def time_split(
    setup: dict[str, Any] | None,
    phases_s: dict[str, float],
    judging_s: float,
    judge: PromptCacheStats | None,
    load: dict[str, list[float]],
) -> dict[str, Any]:
    """The document written to ``timing.json``. ``phases_s``: prepare, sweep, report (wall seconds)."""
    demo = {
        "prepare_s": phases_s["prepare"],  # demo set, random checkpoint, judge server start
        "captioning_s": max(0.0, phases_s["sweep"] - judging_s),
        "judging_s": judging_s,
        "report_s": phases_s["report"],
    }
    demo = {k: round(v, 1) for k, v in demo.items()}
    demo["total_s"] = round(sum(demo.values()), 1)
    return {
        "setup": setup,
        "demo": demo,
        "total_s": round(demo["total_s"] + (setup["wall_s"] if setup else 0.0), 1),
        "judge_server": judge.as_dict() if judge else None,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": load,
    }


def summary_lines(split: dict[str, Any]) -> list[str]:
    """The lines ``vdc-bench demo`` prints."""
    setup, demo = split["setup"], split["demo"]
    if setup:
        steps = ", ".join(f"{name} {s:.0f} s" for name, s in setup.get("steps_s", {}).items())
        setup_text = f"setup {setup['wall_s']:.0f} s ({steps})"
    else:
        setup_text = "setup not measured (run `make demo`)"
    lines = [
        f"[demo] time: {setup_text} | prepare {demo['prepare_s']:.0f} s | captioning {demo['captioning_s']:.0f} s"
        f" | judging {demo['judging_s']:.0f} s | report {demo['report_s']:.0f} s"
        f" | total {split['total_s']:.0f} s ({split['total_s'] / 60:.1f} min) on {split['cpus']} CPUs"
    ]
    judge = split["judge_server"]
    if judge and judge["requests"]:
        lines.append(
            f"[demo] judge: {judge['requests']} requests, {judge['prompt_tokens']} prompt tokens of which "
            f"{judge['prefix_reuse_rate']:.0%} reused from the KV cache, {judge['generated_tokens']} generated; "
            f"prompt eval {judge['prompt_eval_s']:.0f} s, generation {judge['generation_s']:.0f} s"
        )
    load = split["load_average"]
    lines.append(f"[demo] load average (1/5/15 min): start {load['start']}, end {load['end']}")
    return lines


def write_timing(output: Path, split: dict[str, Any]) -> Path:
    path = output / TIMING_FILE
    atomic_write_text(path, json.dumps(split, indent=1) + "\n")
    return path
