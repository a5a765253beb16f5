"""VDCscore written into an lmms-eval ``*_results.json`` after the fact (runs made with ``--predict_only``).

Under ``--predict_only`` lmms-eval stores its placeholder 999 for every metric and "N/A" for every stderr.
Once ``vdc-bench score`` has judged the samples, the real values go where lmms-eval keeps them: per task
``vdc_acc,none`` / ``vdc_score,none`` and their ``_stderr`` (the scores' bootstrap standard errors), and
for each group of VDC tasks the unweighted mean of its subtasks with lmms-eval's own pooled stderr, as a
scoring run computes them in-process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmms_eval.api.metrics import pooled_sample_stderr

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import DimensionScores

# lmms-eval metric name -> key in a scores document's dimension block
METRIC_KEYS = {"vdc_acc": "acc", "vdc_score": "score"}
FILTER = "none"


def _dimension_of(results: dict[str, Any], task: str) -> str | None:
    kwargs = ((results.get("configs") or {}).get(task) or {}).get("dataset_kwargs") or {}
    return kwargs.get("dimension") if isinstance(kwargs, dict) else None


def update_results(results_path: Path, dims: Mapping[str, DimensionScores]) -> list[str]:
    """Write a scores document's dimension values (``ScoresDocument.dimensions``) into ``results_path``;
    returns the tasks and groups updated.

    Every VDC task in the file must have its dimension scored (else the file would mix real values and
    placeholders): an unscored one is an error naming it.
    """
    try:
        results = json.loads(Path(results_path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise VdcBenchError(f"{results_path}: cannot read the lmms-eval results file ({err})") from err
    per_task = results.get("results") or {}
    updated = []
    for task, row in per_task.items():
        dim = _dimension_of(results, task)
        if dim is None:
            continue
        block = dims.get(dim)
        if block is None or block.acc is None:
            raise VdcBenchError(f"{results_path}: task {task} (dimension {dim}) has no VDCscore in the scores given")
        for metric, key in METRIC_KEYS.items():
            stderr = getattr(block, f"{key}_stderr")
            row[f"{metric},{FILTER}"] = getattr(block, key)
            row[f"{metric}_stderr,{FILTER}"] = "N/A" if stderr is None else stderr
        updated.append(task)
    sizes = results.get("n-samples") or {}
    for group, subtasks in (results.get("group_subtasks") or {}).items():
        if not subtasks or not set(subtasks) <= set(updated):
            continue
        n = [int((sizes.get(t) or {}).get("effective") or 0) for t in subtasks]
        for target in (per_task.get(group), (results.get("groups") or {}).get(group)):
            if target is None:
                continue
            for metric in METRIC_KEYS:
                values = [per_task[t][f"{metric},{FILTER}"] for t in subtasks]
                stderrs = [per_task[t][f"{metric}_stderr,{FILTER}"] for t in subtasks]
                target[f"{metric},{FILTER}"] = sum(values) / len(values)  # vdc.yaml: mean, not weighted by size
                pooled = "N/A" not in stderrs and all(k > 1 for k in n)
                target[f"{metric}_stderr,{FILTER}"] = float(pooled_sample_stderr(stderrs, n)) if pooled else "N/A"
        updated.append(group)
    atomic_write_text(Path(results_path), json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    return updated
