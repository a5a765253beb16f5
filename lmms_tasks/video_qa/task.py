"""Doc hooks of ``activitynetqa_judged``: lmms-eval's ActivityNet-QA data and prompt, our judge.

The docs are lmms-eval's own (``lmms-eval/ActivityNetQA``, staged with ``vdc-bench data stage
activitynetqa``); the videos are looked up where the built-in task looks, but a missing one fails its
sample with the file named instead of ending the process.
"""

from __future__ import annotations

from typing import Any

from vdc_bench import sample_stats
from vdc_bench.dataset.builtin_tasks import BUILTIN_TASKS
from vdc_bench.dataset.hf_stage import hf_home

_VIDEOS = BUILTIN_TASKS["activitynetqa"].videos


def process_docs(docs):
    # A stable per-QA key lets the adapter hand a sample's error to process_results (sample_stats).
    return docs.map(lambda doc: {"sample_key": f"activitynetqa/{doc['question_id']}"})


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    folder = hf_home() / _VIDEOS.cache_dir / _VIDEOS.subdir
    names = [f"{_VIDEOS.prefix}{doc[_VIDEOS.id_column]}.{ext}" for ext in _VIDEOS.extensions]
    found = next((folder / n for n in names if (folder / n).is_file()), None)
    return [str(found if found is not None else folder / names[0])]  # the adapter reports a missing file


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    # As lmms-eval's activitynetqa_doc_to_text: capitalised question + "?" between pre and post prompt.
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question'].capitalize()}?{kwargs.get('post_prompt', '')}"


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    record = {"question_id": doc["question_id"], "video_name": doc["video_name"], "question": doc["question"],
              "answer": doc["answer"], "type": doc["type"], "pred": (results[0] if results else "").strip(),
              "error": sample_stats.pop(doc).get("error")}
    return {"judge_accuracy": record, "judge_score": record}
