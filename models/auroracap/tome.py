"""Token Merging (ToMe) as AuroraCap applies it inside every CLIP block (ToMe, Bolya et al. 2023, as upstream AuroraCap patches CLIP).

Pure tensor math, batched over frames, no Python loops over tokens and no sorting:
``merge_step(x, size, metric, r)`` is one bipartite soft matching (``match``) followed by a size-weighted
merge written as one matrix (``merge_matrix``: every token's destination row and weight) applied with
one batched matmul; the stable argsort of the scores is replaced by a rank from pairwise comparisons.
The r schedule and the token counts it implies are plain arithmetic in ``merge_schedule.py``.

On CUDA the same merge runs as two Triton kernels (``merge_triton.py``): same merges and sizes, with
the gather done row by row instead of a dense matmul whose odd row length forces slow GEMM kernels.
Deterministic on both paths: the only atomic adds sum whole numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from vdc_bench.models.auroracap.merge_schedule import protected_cap


def match(metric: torch.Tensor, protect_cls: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Bipartite matching of even (A) to odd (B) positions by cosine similarity of ``metric`` (B, t, c).

    Returns (score, dst), both (B, tA): each A token's best cosine to any B token (``-inf`` for a
    protected CLS) and the index of that B token (the first one on ties, like ``torch.max``).
    """
    unit = metric / metric.norm(dim=-1, keepdim=True)
    score, dst = (unit[:, ::2] @ unit[:, 1::2].transpose(1, 2)).max(dim=-1)
    if protect_cls:
        score[:, 0] = -torch.inf
    return score, dst


def descending_rank(score: torch.Tensor) -> torch.Tensor:
    """(B, n) -> (B, n) position of each entry in a stable descending sort (ties: lower index first).

    Counts, for every i, the j that sort before it: ``s_j > s_i``, or ``s_j == s_i`` with ``j < i``.
    n is at most ~365 per frame, so the (B, n, n) comparison is cheap and needs no sort kernel.
    """
    idx = torch.arange(score.shape[-1], device=score.device)
    earlier = idx[None, :] < idx[:, None]  # [i, j]: j comes before i
    s_i, s_j = score[:, :, None], score[:, None, :]
    return torch.where(earlier, s_j >= s_i, s_j > s_i).sum(-1)


def merge_matrix(
    score: torch.Tensor, dst: torch.Tensor, size: torch.Tensor, r: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each of the t tokens goes, as a (B, t - r, t) matrix of merge weights; and the new sizes.

    The r best-scoring A tokens are sources: each joins its ``dst`` B token. Output rows are the kept
    A tokens in original order, then all B tokens in original order (ToMe/AuroraCap's layout). Entry
    [row, i] is ``size_i / new_size_row`` when token i lands in ``row``, else 0: one nonzero per column,
    written by a scatter into zeros (no (B, t - r, t)-sized arithmetic), and exactly 1 for a token that
    merges with nothing. New sizes are sums of small integers, exact in any summation order.
    """
    batch, t, _ = size.shape
    kept_a = score.shape[1] - r
    idx = torch.arange(score.shape[1], device=score.device)
    is_src = descending_rank(score) < r  # (B, tA)
    # A kept token's row: its index minus the sources before it; a source's row: its B partner's.
    a_row = torch.where(is_src, dst + kept_a, idx - is_src.cumsum(-1))
    row = a_row.new_empty(batch, t, 1)
    row[:, ::2, 0] = a_row
    row[:, 1::2, 0] = torch.arange(kept_a, kept_a + t // 2, device=score.device)
    exact = torch.promote_types(size.dtype, torch.float32)  # fp16 sizes and weights in fp32; float64 stays
    new_size = torch.zeros(batch, t - r, 1, dtype=exact, device=size.device)
    new_size.scatter_add_(1, row, size.to(exact))
    weight = (size.to(exact) / new_size.gather(1, row)).to(size.dtype)  # (B, t, 1)
    # Rows padded to a multiple of 8 elements so the GEMM gets 16-byte aligned rows (fast kernels).
    padded = -(-t // 8) * 8
    weights = size.new_zeros(batch, t - r, padded)[..., :t]
    weights.scatter_(1, row.transpose(1, 2), weight.transpose(1, 2))
    return weights, new_size.to(size.dtype)


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
        score, dst = match(metric, protect_cls)
        fused = fused_merge(x.device)
        if fused is not None:
            return fused(x, size, score, dst, r)
        weights, new_size = merge_matrix(score, dst, size, r)
    return weights @ x, new_size


@functools.cache
def fused_merge(device: torch.device) -> Callable[..., tuple[torch.Tensor, torch.Tensor]] | None:
    """The Triton version of the merge (inference only) on CUDA when Triton is installed, else None."""
    if device.type != "cuda":
        return None
    try:
        from vdc_bench.models.auroracap.merge_triton import merge_triton
    except ImportError:
        return None
    return merge_triton
