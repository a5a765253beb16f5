"""The plugin foundation: install layout, entry point, task hook, CLI, lmms-eval runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vdc_bench import registration
from vdc_bench.runs.lmms_runner import LmmsEvalFailed, failure_reason, run_lmms_eval

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, env: dict | None = None, cwd: Path | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_install_maps_folders_under_our_namespace(tmp_path):
    """models/ and lmms_tasks/ import as vdc_bench.*, never as generic top-level modules."""
    out = _python(
        "import importlib.util as u, json, vdc_bench.models as m, vdc_bench.lmms_tasks as t;"
        "print(json.dumps([m.__file__, t.__file__, u.find_spec('models') is None, u.find_spec('lmms_tasks') is None]))",
        cwd=tmp_path,
    )
    models_file, tasks_file, no_models, no_tasks = json.loads(out)
    assert Path(models_file) == REPO / "models" / "__init__.py"
    assert Path(tasks_file) == REPO / "lmms_tasks" / "__init__.py"
    assert no_models and no_tasks


def test_entry_point_overrides_builtin_auroracap(tmp_path):
    out = _python(
        "from lmms_eval.models import MODEL_REGISTRY_V2 as R; print(R.resolve('auroracap').class_path)",
        cwd=tmp_path,
    )
    assert out.strip() == registration.MODEL_CLASSES["auroracap"]


def test_cli_info_reports_versions_and_task_dir():
    out = subprocess.run(
        [str(Path(sys.executable).parent / "vdc-bench"), "info", "--json"], capture_output=True, text=True, check=True
    ).stdout
    info = json.loads(out)
    assert info["versions"]["lmms-eval"] == "0.7.3"
    assert Path(info["tasks_dir"]) == REPO / "lmms_tasks"
    assert "auroracap" in info["models"]


def test_failure_reason_strips_loguru_decoration():
    line = "\x1b[32m2026-01-01\x1b[0m | \x1b[31mERROR\x1b[0m | lmms_eval.__main__:cli:614 - Error during evaluation: boom"
    assert failure_reason(["noise", line, "more noise"]) == "Error during evaluation: boom"


@pytest.mark.slow
def test_unknown_task_gives_clear_message(tmp_path):
    with pytest.raises(LmmsEvalFailed) as err:
        run_lmms_eval("auroracap", "pretrained=unused", ["vdc_no_such_task"], tmp_path / "out", predict_only=True)
    first_line = str(err.value).splitlines()[0]
    assert "Tasks not found: vdc_no_such_task" in first_line


_LIST_TASKS = (
    "import json, sys, lmms_eval.models;"  # loading the entry points installs the task hook
    "from lmms_eval.tasks import TaskManager;"
    "tm = TaskManager(include_path=sys.argv[1] if len(sys.argv) > 1 else None);"
    "print(json.dumps(sorted(n for n in tm.all_tasks if n.startswith('vdc'))))"
)


def _our_task_names(env: dict | None = None, include_path: str | None = None) -> list[str]:
    cmd = [sys.executable, "-c", _LIST_TASKS] + ([include_path] if include_path else [])
    out = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_task_hook_registers_our_tasks_and_the_kill_switch_disables_it():
    names = _our_task_names()
    assert {"vdc", "vdc_short", "vdc_detailed", "vdc_background", "vdc_main_object", "vdc_camera", "vdc_demo"} <= set(names)
    assert _our_task_names(env={registration.KILL_SWITCH: "1"}) == []
    # the documented fallback: --include_path to our folder
    assert set(_our_task_names(env={registration.KILL_SWITCH: "1"}, include_path=registration.tasks_dir())) == set(names)


@pytest.mark.slow
def test_regular_install_ships_tasks_and_protocol_data(tmp_path):
    """A non-editable install must carry the data-only folders (task YAMLs, verbatim prompts, CSVs)."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("vdc_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "vdc_bench/lmms_tasks/vdc/vdc.yaml",
        "vdc_bench/lmms_tasks/vdc/_vdc_template_yaml",
        "vdc_bench/lmms_tasks/vdc_demo/vdc_demo.yaml",
        "vdc_bench/protocol/judge_prompts.json",
        "vdc_bench/protocol/caption_prompts.json",
        "vdc_bench/leaderboard/data/vdc_published_leaderboard.csv",
        "vdc_bench/models/auroracap/tome.py",
    ):
        assert expected in names, expected
    assert not any(n.startswith(("models/", "lmms_tasks/")) for n in names)
