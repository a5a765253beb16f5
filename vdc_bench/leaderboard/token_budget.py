"""AuroraCap-7B's visual-token budget implied by ``token_kept_ratio`` (the ToMe merge schedule).

The formula is the vision tower's own merge schedule (``models/auroracap/merge_schedule.py``, no
torch), applied to the real geometry, so reports can put the code-formula token axis next to
published, nominal ones. Measured tokens always come from the adapter's per-sample stats, never here.
"""

from __future__ import annotations

from vdc_bench.models.auroracap import merge_schedule

IMAGE_SIZE, PATCH_SIZE, VIT_LAYERS = 378, 14, 32
PATCHES_PER_FRAME = (IMAGE_SIZE // PATCH_SIZE) ** 2  # 729, CLS dropped
MERGE_STEPS = VIT_LAYERS - 1  # features come from block 31 of 32


def tokens_per_frame(ratio: float) -> int:
    """Visual tokens per frame after ToMe: 729 - 31 * r."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"token_kept_ratio must be in (0, 1], got {ratio}")
    r = merge_schedule.merge_r(IMAGE_SIZE, IMAGE_SIZE, PATCH_SIZE, VIT_LAYERS, ratio)
    return merge_schedule.tokens_per_frame(PATCHES_PER_FRAME, MERGE_STEPS, r)


def reachable_tokens_per_frame() -> set[int]:
    """Every tokens-per-frame value the formula can produce for rho in (0, 1]."""
    max_r = merge_schedule.merge_r(IMAGE_SIZE, IMAGE_SIZE, PATCH_SIZE, VIT_LAYERS, 0.0)
    return {merge_schedule.tokens_per_frame(PATCHES_PER_FRAME, MERGE_STEPS, r) for r in range(max_r + 1)}
