"""lmms-eval plugin registration.

lmms-eval loads the ``lmms_eval.models`` entry-point group while importing ``lmms_eval.models``
(before any TaskManager is built), so this is also where our task folder is made visible: we wrap
``TaskManager.__init__`` to append ``vdc_bench/lmms_tasks`` to its include path. Appended, so
lmms-eval's built-in names still win collisions (ours never reuse them). A second wrap, around
``TaskManager._load_individual_task_or_group``, records whether tasks are being built for a simple
or a chat model (lmms-eval passes that to its own task classes, not to a YAML's ``class:``), so
the VDC task builds the request shape the model reads.

Keep this module free of heavy imports and of top-level ``lmms_eval.models`` imports: importing
those here re-enters the half-initialised registry and silently drops every plugin model.

Kill switch: ``VDC_BENCH_NO_TASK_HOOK=1`` disables both wraps (then pass ``--include_path``, and
only simple models such as ``auroracap`` can run the VDC tasks).
"""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path

KILL_SWITCH = "VDC_BENCH_NO_TASK_HOOK"
_HOOK_FLAG = "_vdc_bench_hooked"

# model id -> "module.Class"; later issues add models here.
MODEL_CLASSES: dict[str, str] = {
    "auroracap": "vdc_bench.models.auroracap.lmms_adapter.AuroraCap",
    "vdc_oracle": "vdc_bench.models.baselines.VdcOracle",
    "vdc_blind": "vdc_bench.models.baselines.VdcBlind",
}


def tasks_dir() -> str:
    from vdc_bench.lmms_tasks import TASKS_DIR

    return str(TASKS_DIR)


def missing_tasks_message(path: str) -> str:
    return (
        f"vdc-bench task folder {path} is missing or holds no task YAML (broken install?): "
        "reinstall vdc-bench or pass --include_path to a folder with the vdc task YAMLs"
    )


def install_task_path_hook() -> bool:
    """Make lmms-eval's TaskManager index our task folder. Returns True if the hook is active."""
    if os.environ.get(KILL_SWITCH, "").strip() not in ("", "0"):
        return False
    from lmms_eval.tasks import TaskManager

    if getattr(TaskManager.__init__, _HOOK_FLAG, False):
        return True
    original = TaskManager.__init__
    ours = tasks_dir()
    if not any(Path(ours).rglob("*.yaml")):
        from vdc_bench.logs import logger

        # Entry-point errors are swallowed by lmms-eval (one WARNING), so say it loudly here.
        logger.error(missing_tasks_message(ours))
        return False

    def __init__(self, verbosity="INFO", include_path=None, *args, **kwargs):
        if include_path is None:
            paths = []
        elif isinstance(include_path, (str, os.PathLike)):
            paths = [str(include_path)]
        else:
            paths = [str(p) for p in include_path]
        if ours not in paths:
            paths.append(ours)
        original(self, verbosity, paths, *args, **kwargs)

    setattr(__init__, _HOOK_FLAG, True)
    __init__.__wrapped__ = original
    TaskManager.__init__ = __init__
    TaskManager._load_individual_task_or_group = _recording_task_type(TaskManager._load_individual_task_or_group)
    return True


def _recording_task_type(load):
    """Wrap lmms-eval's task loader so the task classes it constructs can read its ``task_type``."""
    from vdc_bench.lmms_tasks.request_shape import LOADING_FOR

    signature = inspect.signature(load)
    if "task_type" not in signature.parameters:
        from vdc_bench.logs import logger

        logger.error(
            "lmms-eval's task loader takes no task_type: the VDC tasks will build simple-model requests only")
        return load

    @functools.wraps(load)
    def wrapped(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        token = LOADING_FOR.set(bound.arguments["task_type"])
        try:
            return load(self, *args, **kwargs)
        finally:
            LOADING_FOR.reset(token)

    return wrapped


def model_manifests():
    """Entry-point target: our model manifests (and, as a side effect, the task-path hook)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    install_task_path_hook()
    return [ModelManifest(model_id=name, simple_class_path=path) for name, path in MODEL_CLASSES.items()]
