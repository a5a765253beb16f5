"""Caption lengths for the benchmark: VDC-like per-dimension token counts instead of one forced length.

Source: the word counts of the hand-written reference captions in ``vdc_bench/dataset/demo_annotations``
(four videos, five dimensions each) give each dimension's shape (the short caption is one sentence,
the detailed one the longest), scaled so that the five captions of a video average VDC's published
500.91 words (VDC project page, Table 1). Words become tokens at ``tokens_per_word`` (about 1.3 for
English prose under Llama-2's SentencePiece tokenizer: an estimate, as that tokenizer is not shipped
here). Each request draws one of the four demo captions of its dimension and a uniform factor in
[0.75, 1.25], so lengths also vary within a dimension. The model's own caption lengths may differ:
this is a model of the reference lengths, not of AuroraCap's.
"""

from __future__ import annotations

import json
import random
from importlib import resources

DIMENSIONS = ("short", "camera", "background", "main_object", "detailed")
VDC_WORDS_PER_VIDEO = 500.91  # all five captions of a video, VDC project page, Table 1


def demo_word_counts() -> dict[str, list[int]]:
    """Per dimension, the word counts of the demo annotations' reference captions."""
    folder = resources.files("vdc_bench.dataset") / "demo_annotations"
    counts: dict[str, list[int]] = {d: [] for d in DIMENSIONS}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("annotations_") and entry.name.endswith(".json"):
            captions = json.loads(entry.read_text())["captions"]
            for dim in DIMENSIONS:
                counts[dim].append(len(captions[dim].split()))
    if not all(counts.values()):
        raise RuntimeError(f"no demo reference captions found under {folder}")
    return counts


def caption_lengths(n: int, seed: int = 0, tokens_per_word: float = 1.3) -> list[tuple[str, int]]:
    """``n`` (dimension, new tokens) pairs, dimensions in turn, lengths drawn as the module says."""
    counts = demo_word_counts()
    per_video = sum(sum(c) / len(c) for c in counts.values())
    scale = VDC_WORDS_PER_VIDEO / per_video
    rng = random.Random(seed)
    out = []
    for i in range(n):
        dim = DIMENSIONS[i % len(DIMENSIONS)]
        words = rng.choice(counts[dim]) * scale * rng.uniform(0.75, 1.25)
        out.append((dim, max(1, round(words * tokens_per_word))))
    return out
