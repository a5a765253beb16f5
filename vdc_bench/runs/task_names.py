"""Check lmms-eval task and group names before any work: every name, and every member of every group,
must be a task lmms-eval 0.7.3 (built-in tasks plus ``vdc_bench/lmms_tasks``) can load."""

from __future__ import annotations

from collections.abc import Sequence

from vdc_bench.errors import VdcBenchError
from vdc_bench.lmms_tasks import TASKS_DIR


def _members(manager, name: str) -> list[str]:
    """The task names a group or tag lists (inline task configs define themselves and are not looked up)."""
    from lmms_eval import utils

    entry = manager.task_index[name]
    if entry["type"] == "tag":
        return list(entry["task"])
    listed = utils.load_yaml_config(entry["yaml_path"], mode="simple").get("task") or []
    return [m for m in ([listed] if isinstance(listed, str) else listed) if isinstance(m, str)]


def check_task_names(tasks: Sequence[str], manager=None) -> None:
    """Raise one line naming the first unknown name (a group's missing member names its group)."""
    if not tasks:
        raise VdcBenchError("--tasks: no task given")
    if manager is None:
        from lmms_eval.tasks import TaskManager

        manager = TaskManager(verbosity="ERROR", include_path=str(TASKS_DIR))
    seen: set[str] = set()

    def visit(name: str, parent: str | None) -> None:
        if name in seen:
            return
        seen.add(name)
        if name not in manager.task_index:
            where = f"group {parent!r} lists" if parent else "--tasks:"
            raise VdcBenchError(f"{where} unknown task {name!r}: not an lmms-eval task or group, nor one of "
                                f"vdc-bench's ({TASKS_DIR}); `python -m lmms_eval --tasks list` lists them")
        if manager.task_index[name]["type"] in ("group", "tag"):
            for member in _members(manager, name):
                visit(member, name)

    for task in tasks:
        visit(task, None)
