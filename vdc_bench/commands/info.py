"""``vdc-bench info``: versions, where our lmms-eval tasks live, and whether the hook is active."""

from __future__ import annotations

import importlib.metadata as md
import json
import os

from vdc_bench import registration


def versions() -> dict[str, str]:
    out = {}
    for dist in ("vdc-bench", "lmms-eval", "torch", "transformers", "datasets", "openai", "av"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def register(sub) -> None:
    p = sub.add_parser("info", help="versions, task folder (for --include_path) and plugin status")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--tasks-dir", action="store_true", help="print only the task folder (for --include_path)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.tasks_dir:
        print(registration.tasks_dir())
        return 0
    info = {
        "versions": versions(),
        "tasks_dir": registration.tasks_dir(),
        "task_hook": "disabled by " + registration.KILL_SWITCH
        if os.environ.get(registration.KILL_SWITCH, "").strip() not in ("", "0")
        else "enabled",
        "models": sorted(registration.MODEL_CLASSES),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0
