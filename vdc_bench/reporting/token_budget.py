"""AuroraCap's visual-token budget implied by ``token_kept_ratio`` (auroracap_model.md §3.4).

Pure arithmetic (no torch) so that reports can put the code-formula token axis next to published,
nominal ones. Measured tokens always come from the adapter's per-sample stats, never from here.
"""

from __future__ import annotations

PATCHES_PER_FRAME = 729  # (378 / 14) ** 2, CLS dropped
VIT_LAYERS = 32


def merged_per_layer(ratio: float) -> int:
    """r = int(729 * (1 - rho) / 32), evaluated in this order in floating point and truncated."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"token_kept_ratio must be in (0, 1], got {ratio}")
    return int(PATCHES_PER_FRAME * (1.0 - ratio) / VIT_LAYERS)


def tokens_per_frame(ratio: float) -> int:
    """Visual tokens per frame after ToMe: 729 - 31 * r (the last block's merge is not applied)."""
    return PATCHES_PER_FRAME - (VIT_LAYERS - 1) * merged_per_layer(ratio)


def reachable_tokens_per_frame() -> set[int]:
    """Every tokens-per-frame value the formula can produce for rho in (0, 1]."""
    max_r = int(PATCHES_PER_FRAME / VIT_LAYERS)
    return {PATCHES_PER_FRAME - (VIT_LAYERS - 1) * r for r in range(max_r + 1)}
