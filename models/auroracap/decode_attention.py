"""Decode-step attention (one query per row) over a static KV cache, as two Triton kernels (CUDA only).

SDPA over the static cache reads every row's full ``max_len`` columns under an additive mask, and
with one query per head it runs one program per (row, head): at batch 1 that is 32 programs streaming
the whole cache, too few to reach the card's bandwidth. Here each row's valid length comes from a
device tensor (so a captured CUDA graph stays valid as rows grow), only columns ``[0, length)`` are
read, and the columns are split among many programs ("split-K"):

* ``_partial`` (one program per (row, head, split)) runs an online softmax over its split's columns
  in fp32 and writes the split's running max, sum of exponentials and unnormalised output;
* ``_combine`` (one program per (row, head)) merges the splits in a fixed order, so results are
  deterministic (no atomics).

Grouped-query attention maps query head ``h`` to KV head ``h // (heads // kv_heads)``. The split
count depends only on the shapes (batch, heads, ``max_len``), never on the lengths.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_BLOCK_N = 64  # cache columns per loop iteration
_TARGET_PROGRAMS = 1024  # enough (row, head, split) programs to keep every multiprocessor streaming
_MAX_SPLIT_BLOCKS = 16  # long splits would leave a tail of programs still streaming at large batch
_NUM_WARPS = 4


@triton.jit
def _partial(
    q_ptr, k_ptr, v_ptr, length_ptr, m_ptr, l_ptr, acc_ptr,
    scale, heads, group, n_splits,
    q_sb, q_sh, k_sb, k_sh, k_sn, v_sb, v_sh, v_sn,
    D: tl.constexpr, BLOCK_N: tl.constexpr, SPLIT_BLOCKS: tl.constexpr,
):
    bh = tl.program_id(0)
    split = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    kv_h = h // group
    length = tl.load(length_ptr + b).to(tl.int32)
    d = tl.arange(0, D)
    q = tl.load(q_ptr + b * q_sb + h * q_sh + d).to(tl.float32) * scale
    start = split * (SPLIT_BLOCKS * BLOCK_N)
    end = tl.minimum(start + SPLIT_BLOCKS * BLOCK_N, length)
    m = tl.full((), float("-inf"), tl.float32)
    s = tl.zeros((), tl.float32)
    acc = tl.zeros((D,), tl.float32)
    k_base = k_ptr + b * k_sb + kv_h * k_sh
    v_base = v_ptr + b * v_sb + kv_h * v_sh
    # The trip count is a constant, not the row's length (Triton's CPU interpreter loops only to
    # constants); the mask skips the columns past the length, the ``if`` a split wholly past it.
    if start < end:
        for i in range(SPLIT_BLOCKS):
            n = start + i * BLOCK_N + tl.arange(0, BLOCK_N)
            valid = n < end
            k = tl.load(k_base + n[:, None] * k_sn + d[None, :], mask=valid[:, None], other=0.0)
            v = tl.load(v_base + n[:, None] * v_sn + d[None, :], mask=valid[:, None], other=0.0)  # both in flight
            score = tl.where(valid, tl.sum(k.to(tl.float32) * q[None, :], axis=1), float("-inf"))
            m_new = tl.maximum(m, tl.max(score, axis=0))
            alpha = tl.exp(m - m_new)
            p = tl.exp(score - m_new)
            acc = acc * alpha + tl.sum(p[:, None] * v.to(tl.float32), axis=0)
            s = s * alpha + tl.sum(p, axis=0)
            m = m_new
    out = bh * n_splits + split
    tl.store(m_ptr + out, m)  # -inf with s = 0 for a split past the row's length
    tl.store(l_ptr + out, s)
    tl.store(acc_ptr + out * D + d, acc)


@triton.jit
def _combine(m_ptr, l_ptr, acc_ptr, o_ptr, heads, n_splits, o_sb, o_sh, D: tl.constexpr, SPLITS: tl.constexpr):
    bh = tl.program_id(0)
    b = bh // heads
    h = bh % heads
    i = tl.arange(0, SPLITS)
    used = i < n_splits
    m = tl.load(m_ptr + bh * n_splits + i, mask=used, other=float("-inf"))
    s = tl.load(l_ptr + bh * n_splits + i, mask=used, other=0.0)
    m_all = tl.max(m, axis=0)  # finite: split 0 always holds column 0
    w = tl.where(m > float("-inf"), tl.exp(m - m_all), 0.0)
    d = tl.arange(0, D)
    acc = tl.load(acc_ptr + (bh * n_splits + i)[:, None] * D + d[None, :], mask=used[:, None], other=0.0)
    out = tl.sum(acc * w[:, None], axis=0) / tl.sum(s * w, axis=0)
    tl.store(o_ptr + b * o_sb + h * o_sh + d, out.to(o_ptr.dtype.element_ty))


def split_blocks(batch: int, heads: int, max_len: int, block_n: int = _BLOCK_N, target: int | None = None,
                 max_blocks: int = _MAX_SPLIT_BLOCKS) -> int:
    """Column blocks per split: a power of two (few compiled variants) giving about enough programs."""
    wanted_splits = -(-(target or _TARGET_PROGRAMS) // (batch * heads))
    blocks = -(-max_len // block_n)
    return min(triton.next_power_of_2(-(-blocks // wanted_splits)), max_blocks)


def decode_attention(
    q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor, scale: float,
    block_n: int = _BLOCK_N, target: int | None = None, max_split_blocks: int = _MAX_SPLIT_BLOCKS,
    num_warps: int = _NUM_WARPS, num_stages: int | None = None,
) -> torch.Tensor:
    """Softmax attention of one query per row over each row's first ``lengths[b]`` cache columns.

    q (B, H, 1, D); keys, values (B, KV, max_len, D) with the last dimension contiguous; lengths (B,)
    integers in ``[1, max_len]`` on the device. Returns (B, H, 1, D) in q's dtype, fp32 inside. The
    keyword arguments after ``scale`` are launch settings (the defaults are the measured choice).
    """
    batch, heads, one, dim = q.shape
    kv_heads, max_len = keys.shape[1], keys.shape[2]
    if one != 1 or heads % kv_heads or q.stride(3) != 1 or keys.stride(3) != 1 or values.stride(3) != 1:
        raise ValueError(f"decode_attention: q {tuple(q.shape)} over keys {tuple(keys.shape)} is not a decode step")
    blocks = split_blocks(batch, heads, max_len, block_n, target, max_split_blocks)
    n_splits = -(-max_len // (blocks * block_n))
    m = torch.empty((batch * heads, n_splits), device=q.device, dtype=torch.float32)
    s = torch.empty_like(m)
    acc = torch.empty((batch * heads, n_splits, dim), device=q.device, dtype=torch.float32)
    out = torch.empty((batch, heads, 1, dim), device=q.device, dtype=q.dtype)
    _partial[(batch * heads, n_splits)](
        q, keys, values, lengths, m, s, acc,
        scale, heads, heads // kv_heads, n_splits,
        q.stride(0), q.stride(1), keys.stride(0), keys.stride(1), keys.stride(2),
        values.stride(0), values.stride(1), values.stride(2),
        D=dim, BLOCK_N=block_n, SPLIT_BLOCKS=blocks, num_warps=num_warps,
        **({} if num_stages is None else {"num_stages": num_stages}),
    )
    _combine[(batch * heads,)](
        m, s, acc, out, heads, n_splits, out.stride(0), out.stride(1),
        D=dim, SPLITS=triton.next_power_of_2(n_splits),
    )
    return out
