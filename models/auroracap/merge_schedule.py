"""The ToMe merge schedule of AuroraCap: plain arithmetic, no torch.

Shared by the vision tower (how many tokens each block merges) and by reports and the leaderboard
(the visual-token budget a ``token_kept_ratio`` implies), so the formula exists once.
"""

from __future__ import annotations


def merge_r(height: int, width: int, patch_size: int, num_layers: int, token_kept_ratio: float) -> int:
    """Tokens merged per block: ``int((H*W/p**2) * (1 - ratio) / L)``, in this order, in floating point.

    The evaluation order matters: e.g. ratio 0.9 gives ``729 * 0.09999999999999998 / 32 = 2.27`` -> 2.
    """
    return int((height * width / patch_size**2) * (1 - token_kept_ratio) / num_layers)


def protected_cap(num_tokens: int, r: int, protect_cls: bool = True) -> int:
    """``r`` capped so that each side of the split keeps a token: ``min(r, (t - protected) // 2)``."""
    return max(0, min(r, (num_tokens - int(protect_cls)) // 2))


def tokens_per_frame(num_patches: int, merge_steps: int, r: int, protect_cls: bool = True) -> int:
    """Patch tokens left after ``merge_steps`` merging blocks (CLS, if any, not counted).

    For AuroraCap (729 patches, features after block 31 of 32) this is ``729 - 31 * r``.
    """
    t = num_patches + int(protect_cls)
    for _ in range(merge_steps):
        t -= protected_cap(t, r, protect_cls)
    return t - int(protect_cls)
