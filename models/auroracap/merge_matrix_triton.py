"""``tome.merge_matrix`` as one Triton kernel per merge step (CUDA only), bit-identical to the torch version.

The torch version is ~20 small kernels (rank, cumsum, scatter, gather, ...) on a few thousand
elements each; on an H100 each costs ~4-5 µs even replayed from a CUDA graph, so at 16 frames they
made the ToMe steps ~15% of the vision encoder. Here one program per frame does the same integer
logic in registers: the stable descending rank by chunked pairwise comparison, the running count of
sources, each token's destination row, the new sizes (sums of whole numbers, exact) and the weights
``size / new_size`` with an IEEE-rounded division, like torch's. The (B, t - r, t) matrix is zeroed by
one memset and receives one store per token.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_CHUNK = 32  # comparison tile width: (BLOCK x CHUNK) booleans per loop iteration


@triton.jit
def _merge_matrix_kernel(
    score_ptr, dst_ptr, size_ptr, row_ptr, new_size_ptr, weights_ptr,
    t, t_a, t_b, r, w_batch_stride, w_row_stride,
    BLOCK: tl.constexpr, CHUNK: tl.constexpr,
):
    b = tl.program_id(0)
    t_out = t - r
    kept_a = t_a - r
    i = tl.arange(0, BLOCK)
    in_a = i < t_a
    in_b = i < t_b
    s_i = tl.load(score_ptr + b * t_a + i, mask=in_a, other=float("-inf")).to(tl.float32)

    # Stable descending rank: j sorts before i when s_j > s_i, or s_j == s_i and j < i.
    rank = tl.zeros((BLOCK,), dtype=tl.int32)
    for j0 in range(0, BLOCK, CHUNK):  # constant trip count; the j < t_a masks cut the tail
        j = j0 + tl.arange(0, CHUNK)
        s_j = tl.load(score_ptr + b * t_a + j, mask=j < t_a, other=float("-inf")).to(tl.float32)
        ahead = (s_j[None, :] > s_i[:, None]) | ((s_j[None, :] == s_i[:, None]) & (j[None, :] < i[:, None]))
        rank += tl.sum((ahead & (j[None, :] < t_a)).to(tl.int32), axis=1)

    is_src = (rank < r) & in_a
    dst = tl.load(dst_ptr + b * t_a + i, mask=in_a, other=0).to(tl.int32)
    a_row = tl.where(is_src, dst + kept_a, i - tl.cumsum(is_src.to(tl.int32), axis=0))
    tl.store(row_ptr + b * t_a + i, a_row, mask=in_a)
    tl.debug_barrier()  # the rows are read back below by other threads of this program

    # New size of B row j: its own size plus the sizes of the sources whose row is kept_a + j.
    size_a = tl.load(size_ptr + b * t + 2 * i, mask=in_a, other=0.0).to(tl.float32)
    size_b = tl.load(size_ptr + b * t + 2 * i + 1, mask=in_b, other=0.0).to(tl.float32)
    merged = size_b
    for k0 in range(0, BLOCK, CHUNK):
        k = k0 + tl.arange(0, CHUNK)
        k_row = tl.load(row_ptr + b * t_a + k, mask=k < t_a, other=-1)
        k_size = tl.load(size_ptr + b * t + 2 * k, mask=k < t_a, other=0.0).to(tl.float32)
        hit = k_row[None, :] == (kept_a + i)[:, None]
        merged += tl.sum(tl.where(hit, k_size[None, :], 0.0), axis=1)

    kept = in_a & (is_src == 0)
    out_dtype = new_size_ptr.dtype.element_ty
    tl.store(new_size_ptr + b * t_out + a_row, size_a.to(out_dtype), mask=kept)
    tl.store(new_size_ptr + b * t_out + kept_a + i, merged.to(out_dtype), mask=in_b)
    tl.debug_barrier()  # sources read their destination's new size, written by another thread

    a_total = tl.load(new_size_ptr + b * t_out + a_row, mask=in_a, other=1.0).to(tl.float32)
    w_ptr = weights_ptr + b * w_batch_stride
    tl.store(w_ptr + a_row * w_row_stride + 2 * i, tl.math.div_rn(size_a, a_total).to(out_dtype), mask=in_a)
    w_b = tl.math.div_rn(size_b, tl.where(in_b, merged, 1.0))
    tl.store(w_ptr + (kept_a + i) * w_row_stride + 2 * i + 1, w_b.to(out_dtype), mask=in_b)


def merge_matrix_triton(
    score: torch.Tensor, dst: torch.Tensor, size: torch.Tensor, r: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same contract and bits as ``tome.merge_matrix``: (weights (B, t - r, t), new sizes (B, t - r, 1))."""
    batch, t, _ = size.shape
    t_a = score.shape[1]
    score, dst, size = score.contiguous(), dst.contiguous(), size.contiguous()
    padded = -(-t // 8) * 8
    weights = size.new_zeros(batch, t - r, padded)[..., :t]
    new_size = size.new_empty(batch, t - r, 1)
    rows = torch.empty(batch, t_a, dtype=torch.int32, device=size.device)
    block = max(triton.next_power_of_2(t_a), _CHUNK)
    _merge_matrix_kernel[(batch,)](
        score, dst, size, rows, new_size, weights,
        t, t_a, t // 2, r, weights.stride(0), weights.stride(1),
        BLOCK=block, CHUNK=_CHUNK, num_warps=8,
    )
    return weights, new_size
