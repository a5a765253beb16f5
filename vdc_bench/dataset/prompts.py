"""Caption prompt per video: a stable hash of (video id, dimension, seed) into the verbatim list.

The reference tasks draw ``random.choice`` after docs are sharded by rank, so the prompt a video
got depended on the number of processes and on task order. Hashing makes it a pure function of
the video, the dimension and the seed.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from vdc_bench.dataset.dimensions import check_dimension

PROMPTS_FILE = Path(__file__).resolve().parent.parent / "protocol" / "caption_prompts.json"
PROMPT_MODES = ("hash", "canonical")


@cache
def caption_prompts(dimension: str) -> tuple[str, ...]:
    """The verbatim prompt list of one dimension (index 0 is the canonical prompt)."""
    data = json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))
    return tuple(data["dimensions"][check_dimension(dimension)]["prompts"])


def prompt_index(video_id: str, dimension: str, seed: int = 0, mode: str = "hash") -> int:
    """Index into ``caption_prompts(dimension)``; 0 in canonical mode."""
    if mode == "canonical":
        return 0
    if mode != "hash":
        raise ValueError(f"prompt mode must be one of {PROMPT_MODES}, got {mode!r}")
    digest = hashlib.sha256(f"{video_id}\x1f{dimension}\x1f{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % len(caption_prompts(dimension))


def choose_prompt(video_id: str, dimension: str, seed: int = 0, mode: str = "hash") -> tuple[int, str]:
    """``(index, prompt)`` for one video of one dimension."""
    index = prompt_index(video_id, dimension, seed, mode)
    return index, caption_prompts(dimension)[index]
