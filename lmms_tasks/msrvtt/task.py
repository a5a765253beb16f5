"""lmms-eval task class and doc hooks of ``msrvtt_cap_1ka`` (docs from a local MSR-VTT copy, no Hub).

``dataset_kwargs`` is the data spec: optional ``root`` (else ``MSRVTT_ROOT``) and ``on_missing``
(``error`` or ``skip``). The defect report's counts travel with every sample record.
"""

from __future__ import annotations

import json
from typing import Any

import datasets
from lmms_eval.api.task import ConfigurableTask

from vdc_bench.dataset.errors import DataNotFoundError
from vdc_bench.dataset.msrvtt import load_msrvtt_1ka, resolve_root


class MsrvttCaptionTask(ConfigurableTask):
    def __init__(self, config: dict | None = None, **kwargs: Any) -> None:
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def download(self, dataset_kwargs: dict | None = None) -> None:
        # Replaces the Hub download; a data error surfaces once, as itself.
        spec = dict(dataset_kwargs or {})
        root = resolve_root(spec)
        docs, report = load_msrvtt_1ka(root, spec.get("on_missing", "error"))
        if not docs:
            raise DataNotFoundError(f"MSR-VTT 1k-A: no docs left to evaluate in {root}")
        summary = json.dumps(report.summary())
        rows = datasets.Dataset.from_list([{**doc, "data_summary": summary} for doc in docs])
        self.dataset = datasets.DatasetDict({self.config.test_split: rows})
        self.dataset_no_image = self.dataset


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    return [doc["video_path"]]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    return (lmms_eval_specific_kwargs or {}).get("prompt", "")


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    record = {"video_id": doc["video_id"], "pred": (results[0] if results else "").strip(),
              "references": list(doc["references"]), "data": json.loads(doc["data_summary"])}
    return {metric: record for metric in ("msrvtt_Bleu_4", "msrvtt_METEOR", "msrvtt_ROUGE_L", "msrvtt_CIDEr")}
