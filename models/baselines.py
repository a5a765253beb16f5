"""Text-only bound models for lmms-eval: ``vdc_oracle`` and ``vdc_blind``.

They never look at the video. ``vdc_oracle`` answers every VDC request with the doc's reference
caption (the upper bound a judge should give), ``vdc_blind`` with an empty caption (the floor: what
the judge awards for saying nothing). Run them like any model, e.g.
``python -m lmms_eval --model vdc_oracle --tasks vdc_demo``, to get these bounds as rows of a report.
"""

from __future__ import annotations

from lmms_eval.api.model import lmms

from vdc_bench import sample_stats


class _CaptionBound(lmms):
    is_simple = True
    device = "cpu"  # the evaluator's gather step reads it; nothing runs on it

    def __init__(self, batch_size: int | str = 1, **kwargs) -> None:
        super().__init__()
        self.batch_size = int(batch_size)

    def caption_for(self, doc: dict) -> str:
        raise NotImplementedError

    def generate_until(self, requests) -> list[str]:
        out = []
        for req in requests:
            _, _, _, doc_id, task, split = req.args
            out.append(self.caption_for(self.task_dict[task][split][doc_id]))
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError(f"{type(self).__name__} only generates captions")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError(f"{type(self).__name__} only generates captions")


class VdcOracle(_CaptionBound):
    """Returns the reference caption of the doc's dimension (its ``reference_caption`` field)."""

    def caption_for(self, doc: dict) -> str:
        caption = str(doc.get("reference_caption") or "")
        if not caption:
            # Scoring "" as the oracle would silently turn it into the blind bound.
            sample_stats.record(doc, {"error": f"{doc.get('sample_key', '?')}: doc has no reference_caption"})
        return caption


class VdcBlind(_CaptionBound):
    """Returns an empty caption for every request."""

    def caption_for(self, doc: dict) -> str:
        return ""
