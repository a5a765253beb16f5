"""Captioning metrics of ``msrvtt_cap_1ka`` with the COCO caption evaluation code (pycocoevalcap).

As lmms-eval's own captioning tasks: references and predictions go through the PTB tokenizer (Java),
then BLEU-4, METEOR (Java), ROUGE-L and CIDEr-D over all test videos (corpus level).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer


def _score(records: Sequence[dict[str, Any]], metric: str) -> float:
    refs = {r["video_id"]: [{"caption": c} for c in r["references"]] for r in records}
    preds = {r["video_id"]: [{"caption": r["pred"]}] for r in records}
    tokenizer = PTBTokenizer()
    refs, preds = tokenizer.tokenize(refs), tokenizer.tokenize(preds)
    scorer = {"Bleu_4": Bleu(4), "METEOR": Meteor(), "ROUGE_L": Rouge(), "CIDEr": Cider()}[metric]
    score, _ = scorer.compute_score(refs, preds)
    return float(score[3] if metric == "Bleu_4" else score)


def bleu4(records: Sequence[dict[str, Any]]) -> float:
    return _score(records, "Bleu_4")


def meteor(records: Sequence[dict[str, Any]]) -> float:
    return _score(records, "METEOR")


def rouge_l(records: Sequence[dict[str, Any]]) -> float:
    return _score(records, "ROUGE_L")


def cider(records: Sequence[dict[str, Any]]) -> float:
    return _score(records, "CIDEr")
