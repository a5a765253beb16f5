"""Doc hooks of the judged video QA tasks (Video-ChatGPT protocol, our judge; see metrics.py).

* ``activitynetqa_judged``: lmms-eval's own ActivityNet-QA docs (``lmms-eval/ActivityNetQA``, staged with
  ``vdc-bench data stage activitynetqa``), videos looked up where the built-in task looks; a missing
  one fails its sample with the file named instead of ending the process.
* ``msrvtt_qa``, ``msvd_qa``, ``ivqa``: docs read by ``QaReleaseTask`` from the original release files
  (``dataset_kwargs``: ``dataset`` plus optional ``root`` and ``on_missing``). iVQA's records also carry
  the five annotator answers for its own accuracy (``ivqa_acc``); the judge gets the most frequent one.
"""

from __future__ import annotations

import json
from typing import Any

import datasets
from lmms_eval.api.task import ConfigurableTask

from vdc_bench import sample_stats
from vdc_bench.dataset.builtin_tasks import BUILTIN_TASKS
from vdc_bench.dataset.errors import DataNotFoundError
from vdc_bench.dataset.hf_stage import hf_home
from vdc_bench.dataset.video_qa_releases import load_qa_release, resolve_root

_ANET_VIDEOS = BUILTIN_TASKS["activitynetqa"].videos


class QaReleaseTask(ConfigurableTask):
    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def download(self, dataset_kwargs: dict | None = None) -> None:
        # Replaces the Hub download; a data error surfaces once, as itself.
        spec = dict(dataset_kwargs or {})
        dataset = spec.get("dataset", "")
        root = resolve_root(dataset, spec)
        docs, report = load_qa_release(dataset, root, spec.get("on_missing", "error"))
        if not docs:
            raise DataNotFoundError(f"{dataset}: no docs left to evaluate in {root}")
        summary = json.dumps(report.summary())
        rows = datasets.Dataset.from_list([{**doc, "data_summary": summary} for doc in docs])
        self.dataset = datasets.DatasetDict({self.config.test_split: rows})
        self.dataset_no_image = self.dataset


def anet_process_docs(docs):
    # A stable per-QA key lets the adapter hand a sample's error to process_results (sample_stats).
    return docs.map(lambda doc: {"sample_key": f"activitynetqa_judged/{doc['question_id']}"})


def anet_doc_to_visual(doc: dict[str, Any]) -> list[str]:
    folder = hf_home() / _ANET_VIDEOS.cache_dir / _ANET_VIDEOS.subdir
    names = [f"{_ANET_VIDEOS.prefix}{doc[_ANET_VIDEOS.id_column]}.{ext}" for ext in _ANET_VIDEOS.extensions]
    found = next((folder / n for n in names if (folder / n).is_file()), None)
    return [str(found if found is not None else folder / names[0])]  # the adapter reports a missing file


def anet_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    # As lmms-eval's activitynetqa_doc_to_text: capitalised question + "?" between pre and post prompt.
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question'].capitalize()}?{kwargs.get('post_prompt', '')}"


def release_doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [doc["video_path"]]


def release_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    record = {"task": doc["sample_key"].split("/")[0], "question_id": str(doc["question_id"]),
              "question": doc["question"], "answer": str(doc["answer"]), "pred": (results[0] if results else "").strip(),
              "error": sample_stats.pop(doc).get("error")}
    return {"judge_accuracy": record, "judge_score": record}


def ivqa_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    record = {**process_results(doc, results)["judge_accuracy"], "answers": list(doc["answers"])}
    return {"ivqa_acc": record, "judge_accuracy": record, "judge_score": record}
