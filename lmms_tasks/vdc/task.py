"""lmms-eval task class and hooks of the ``vdc`` and ``vdc_demo`` tasks (absolute ``!function`` paths).

How a task gets its docs without the Hub: ``VdcTask.download`` reads the dimension's docs from the
data root when the task is built (never at import), using the YAML's ``dataset_kwargs`` as the
task spec: ``{dimension, source: vdc|demo}`` plus optional ``root``, ``prompt_seed``,
``prompt_mode`` and ``on_missing`` (the task-level override of the VDC_* variables).
"""

from __future__ import annotations

import json
from typing import Any

import datasets
from lmms_eval.api.metrics import bypass, bypass_agg
from lmms_eval.api.task import ConfigurableMessagesTask, ConfigurableTask

from vdc_bench import sample_stats
from vdc_bench.dataset.errors import DataNotFoundError
from vdc_bench.dataset.task_docs import build_task_docs
from vdc_bench.lmms_tasks.request_shape import LOADING_FOR
from vdc_bench.records import SampleRecord

METRICS = ("vdc_acc", "vdc_score")
# What lmms-eval's chat backends put in place of a caption when a request failed: they log the
# error and go on, so without this check the placeholder would be judged as if it were a caption.
FAILURE_MARKERS = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")


class VdcTask(ConfigurableTask):
    """A ConfigurableTask that loads VDC docs itself and keeps its records under ``--predict_only``.

    Constructed while lmms-eval loads tasks for a chat model, it becomes a ``VdcMessagesTask``:
    same docs, prompts and records, requests in the chat shape (video + prompt as one user turn).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> VdcTask:
        if cls is VdcTask and LOADING_FOR.get() == "chat":
            cls = VdcMessagesTask
        return super().__new__(cls)

    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def download(self, dataset_kwargs: dict | None = None) -> None:
        # Replaces the Hub download. Not wrapped in lmms-eval's retry decorator on purpose: a data
        # error (missing videos, bad line) must surface once, as itself, not as a RetryError 8 s later.
        spec = dict(dataset_kwargs or {})
        data = build_task_docs(spec)
        if not data.docs:
            raise DataNotFoundError(f"VDC {spec.get('dimension')}: no docs left to evaluate in {data.report.root}")
        summary = json.dumps(data.report.summary())
        docs = datasets.Dataset.from_list([{**doc, "data_summary": summary} for doc in data.docs])
        self.dataset = datasets.DatasetDict({self.config.test_split: docs})
        self.dataset_no_image = self.dataset

    def override_metric(self, metric_name: str) -> None:
        # Under --predict_only lmms-eval swaps every metric for ``bypass`` and drops process_results,
        # which would strip the samples file of the video id, dimension, prompt and QA that
        # ``vdc-bench score`` needs later. Keep process_results; both metrics pass through unjudged.
        process_results = self.config.process_results
        super().override_metric(metric_name)
        if metric_name == "bypass":
            self._config.process_results = process_results
            self._metric_fn_list = {"bypass": bypass}
            self._aggregation_list = {m: bypass_agg for m in METRICS}
            self._higher_is_better = {m: True for m in METRICS}
            self._metric_fn_kwargs = {m: {} for m in METRICS}


class VdcMessagesTask(VdcTask, ConfigurableMessagesTask):
    """The VDC task for chat models: ``doc_to_messages`` is built from ``doc_to_visual`` + ``doc_to_text``."""


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [doc["video_path"]]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    # The chosen prompt is the whole text prompt, as in the reference tasks (no pre/post prompt).
    return doc["prompt"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """One ``SampleRecord`` (vdc_bench/records.py) with everything scoring and reports need; the samples
    file has no doc. Built through ``from_dict``, so a record that later stages could misread is an error
    here. Both metrics get the same record."""
    stats = sample_stats.pop(doc)
    caption = (results[0] if results else "").strip()
    error = stats.get("error") or _caption_error(caption)
    rec = SampleRecord.from_dict({
        "video_id": doc["video_id"],
        "dimension": doc["dimension"],
        "sample_key": doc["sample_key"],
        "prompt": doc["prompt"],
        "prompt_index": doc["prompt_index"],
        "prompt_seed": doc["prompt_seed"],
        "prompt_mode": doc["prompt_mode"],
        "caption": caption,
        "reference_caption": doc["reference_caption"],
        "qa": doc["qa_list"],
        "failed": error is not None,
        "error": error,
        "stats": stats,
        "data": json.loads(doc["data_summary"]),
    }, f"VDC sample {doc['sample_key']}").to_dict()
    return {"vdc_acc": rec, "vdc_score": rec}


def _caption_error(caption: str) -> str | None:
    """A failure placeholder of lmms-eval's API backends is a failed generation, never a caption.
    (Empty captions, which its local backends return after an error, are flagged by scoring.)"""
    if caption.startswith(FAILURE_MARKERS):
        return f"the model backend reported a failed request: {caption[:200]}"
    return None
