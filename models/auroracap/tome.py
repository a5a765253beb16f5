"""Token Merging (ToMe) as AuroraCap applies it inside every CLIP block (spec: auroracap_model.md §3).

Pure tensor math, batched over frames, no Python loops over tokens:
``merge_step(x, size, metric, r)`` is one bipartite soft matching + size-weighted merge. The r schedule
and the token counts it implies are plain arithmetic in ``merge_schedule.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vdc_bench.models.auroracap.merge_schedule import protected_cap


def merge_step(
    x: torch.Tensor,
    size: torch.Tensor,
    metric: torch.Tensor,
    r: int,
    protect_cls: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ToMe step: match even (A) to odd (B) positions by cosine of ``metric``, merge the ``r`` best A tokens.

    Args:
        x: (B, t, C) tokens; CLS at index 0 when ``protect_cls``.
        size: (B, t, 1) how many original patches each token stands for.
        metric: (B, t, c) matching features (AuroraCap: head-averaged attention keys).
        r: requested merges; capped at ``(t - protected) // 2``.

    Returns:
        (x, size) of length t - r: kept A tokens in original order (CLS first), then all B tokens in
        original order; each B token is the size-weighted mean of itself and the A tokens merged into it.
    """
    r = protected_cap(x.shape[1], r, protect_cls)
    if r <= 0:
        return x, size
    with torch.no_grad():
        metric = metric / metric.norm(dim=-1, keepdim=True)
        scores = metric[:, ::2] @ metric[:, 1::2].transpose(1, 2)  # (B, tA, tB)
        if protect_cls:
            scores[:, 0, :] = -torch.inf
        best_score, best_dst = scores.max(dim=-1)  # (B, tA)
        order = best_score.argsort(dim=-1, descending=True, stable=True)
        src_idx = order[:, :r]  # (B, r)
        kept_idx = order[:, r:].sort(dim=-1).values  # (B, tA - r), original order
        dst_idx = best_dst.gather(1, src_idx)  # (B, r)

    weighted = torch.cat([x * size, size], dim=-1)  # merge features and sizes in one gather/scatter
    a, b = weighted[:, ::2], weighted[:, 1::2]
    width = weighted.shape[-1]
    kept = a.gather(1, kept_idx.unsqueeze(-1).expand(-1, -1, width))
    src = a.gather(1, src_idx.unsqueeze(-1).expand(-1, -1, width))
    # Sum sources into destinations with a one-hot matmul rather than scatter_add: CUDA scatter_add
    # uses atomics, whose summation order (and so the low bits) changes from run to run.
    b = b + F.one_hot(dst_idx, b.shape[1]).to(b.dtype).transpose(1, 2) @ src
    merged = torch.cat([kept, b], dim=1)
    new_size = merged[..., -1:]
    return merged[..., :-1] / new_size, new_size
