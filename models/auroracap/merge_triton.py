"""The ToMe merge of ``tome.merge_step`` in two Triton kernels (CUDA only).

The torch version builds a dense (B, t - r, t) merge matrix (~20 small kernels) and applies it with
a GEMM whose odd row length t forces cuBLAS onto slow 2-element-aligned kernels; on an H100 that made
the 31 merge steps ~15% of the vision encoder at 16 frames. Here:

* ``_route`` (one program per frame) does the integer logic in registers: the stable descending rank
  by chunked pairwise comparison, the running count of sources, each output row's own token and
  weight, the r sources with their rows and weights, and the new sizes (sums of whole numbers, exact
  in any order, so fp32 atomics are fine). Weights are ``size / new_size`` with an IEEE-rounded
  division, as in torch.
* ``_gather_merge`` writes each output row once: its own token times its weight, plus the sources
  whose row it is (at most r, visited in rank order), summed in fp32 and rounded once.

Same merges and sizes as ``tome.merge_matrix`` bit for bit; a token that merges with nothing is copied
exactly; merged rows differ from the GEMM only in fp32 summation order. Deterministic: the only atomics
add whole numbers.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_CHUNK = 32  # comparison tile width in _route: (BLOCK x CHUNK) per loop iteration
_ROWS = 16  # output rows per _gather_merge program
_COLUMNS = 256  # channels per _gather_merge program


@triton.jit
def _route(
    score_ptr, dst_ptr, size_ptr, total_ptr, base_ptr, base_w_ptr, src_ptr, src_row_ptr, src_w_ptr, new_size_ptr,
    t, t_a, t_b, r,
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
    kept = in_a & (rank >= r)
    dst = tl.load(dst_ptr + b * t_a + i, mask=in_a, other=0).to(tl.int32)
    a_row = tl.where(is_src, dst + kept_a, i - tl.cumsum(is_src.to(tl.int32), axis=0))

    # New sizes: own size, plus (B rows) the sources' sizes, added atomically in fp32. They are whole
    # numbers, so the sums are exact whatever order the atomics land in.
    size_a = tl.load(size_ptr + b * t + 2 * i, mask=in_a, other=0.0).to(tl.float32)
    size_b = tl.load(size_ptr + b * t + 2 * i + 1, mask=in_b, other=0.0).to(tl.float32)
    out = b * t_out
    b_row = kept_a + i
    tl.store(total_ptr + out + a_row, size_a, mask=kept)
    tl.store(total_ptr + out + b_row, size_b, mask=in_b)
    tl.debug_barrier()
    tl.atomic_add(total_ptr + out + a_row, size_a, mask=is_src)
    tl.debug_barrier()

    dtype = new_size_ptr.dtype.element_ty
    # .cg: read the totals from L2, where the atomics landed, never from a stale L1 line.
    merged = tl.load(total_ptr + out + b_row, mask=in_b, other=1.0, cache_modifier=".cg")
    tl.store(new_size_ptr + out + a_row, size_a.to(dtype), mask=kept)
    tl.store(new_size_ptr + out + b_row, merged.to(dtype), mask=in_b)
    tl.store(base_ptr + out + a_row, 2 * i, mask=kept)
    tl.store(base_ptr + out + b_row, 2 * i + 1, mask=in_b)
    tl.store(base_w_ptr + out + a_row, tl.full((BLOCK,), 1.0, tl.float32).to(dtype), mask=kept)
    tl.store(base_w_ptr + out + b_row, tl.math.div_rn(size_b, merged).to(dtype), mask=in_b)

    total = tl.load(total_ptr + out + a_row, mask=is_src, other=1.0, cache_modifier=".cg")
    tl.store(src_ptr + b * r + rank, 2 * i, mask=is_src)
    tl.store(src_row_ptr + b * r + rank, a_row, mask=is_src)
    tl.store(src_w_ptr + b * r + rank, tl.math.div_rn(size_a, total).to(dtype), mask=is_src)


@triton.jit
def _gather_merge(
    x_ptr, base_ptr, base_w_ptr, src_ptr, src_row_ptr, src_w_ptr, out_ptr,
    t, t_out, r, channels,
    ROWS: tl.constexpr, COLUMNS: tl.constexpr, R_BLOCK: tl.constexpr,
):
    b = tl.program_id(0)
    row = tl.program_id(1) * ROWS + tl.arange(0, ROWS)
    col = tl.program_id(2) * COLUMNS + tl.arange(0, COLUMNS)
    in_row = row < t_out
    in_col = col < channels
    mask = in_row[:, None] & in_col[None, :]
    base = tl.load(base_ptr + b * t_out + row, mask=in_row, other=0)
    weight = tl.load(base_w_ptr + b * t_out + row, mask=in_row, other=0.0).to(tl.float32)
    x_b = x_ptr + b * t * channels
    acc = weight[:, None] * tl.load(x_b + base[:, None] * channels + col[None, :], mask=mask, other=0.0).to(tl.float32)
    first_row = tl.program_id(1) * ROWS
    for k in range(0, R_BLOCK):  # sources in rank order, masked past r
        s_row = tl.load(src_row_ptr + b * r + k, mask=k < r, other=-1)
        if (s_row >= first_row) & (s_row < first_row + ROWS):  # most sources land in other row blocks
            s_w = tl.load(src_w_ptr + b * r + k).to(tl.float32)
            s_tok = tl.load(src_ptr + b * r + k)
            s_x = tl.load(x_b + s_tok * channels + col, mask=in_col, other=0.0).to(tl.float32)
            acc += tl.where((row == s_row)[:, None], s_w * s_x[None, :], 0.0)
    tl.store(out_ptr + b * t_out * channels + row[:, None] * channels + col[None, :],
             acc.to(out_ptr.dtype.element_ty), mask=mask)


def merge_triton(
    x: torch.Tensor, size: torch.Tensor, score: torch.Tensor, dst: torch.Tensor, r: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (B, t, C), size (B, t, 1)) merged by ``tome.match``'s (score, dst): (x, size) of length t - r."""
    batch, t, channels = x.shape
    t_a, t_out = score.shape[1], t - r
    x, size, score, dst = x.contiguous(), size.contiguous(), score.contiguous(), dst.contiguous()
    index = {"dtype": torch.int32, "device": x.device}
    total = torch.empty(batch, t_out, dtype=torch.float32, device=x.device)
    base = torch.empty(batch, t_out, **index)
    src, src_row = torch.empty(batch, r, **index), torch.empty(batch, r, **index)
    base_w, src_w = size.new_empty(batch, t_out), size.new_empty(batch, r)
    new_size = size.new_empty(batch, t_out, 1)
    _route[(batch,)](
        score, dst, size, total, base, base_w, src, src_row, src_w, new_size, t, t_a, t // 2, r,
        BLOCK=max(triton.next_power_of_2(t_a), _CHUNK), CHUNK=_CHUNK, num_warps=8,
    )
    out = x.new_empty(batch, t_out, channels)
    grid = (batch, triton.cdiv(t_out, _ROWS), triton.cdiv(channels, _COLUMNS))
    _gather_merge[grid](
        x, base, base_w, src, src_row, src_w, out, t, t_out, r, channels,
        ROWS=_ROWS, COLUMNS=_COLUMNS, R_BLOCK=triton.next_power_of_2(r), num_warps=4,
    )
    return out, new_size
