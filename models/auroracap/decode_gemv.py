"""A batch-1 decode step's projections as three fused Triton GEMV kernels (CUDA; CPU through Triton's interpreter).

At batch 1 a Llama layer's step is four weight-streaming GEMVs plus element-wise work. With cuBLAS the
element-wise work needs kernels of its own (two RMSNorms, RoPE with the cache store, SiLU·up), and
cuBLAS adds a split-K reduction kernel after the QKV and out-projections: about 11 small kernels a
layer, each a few microseconds of a step that should only stream weights. Here each kernel streams one
weight matrix and does the element-wise work around it in registers:

* ``_qkv_rope``: RMSNorm(x) -> packed QKV GEMV -> RoPE on q and k -> q out, k and v stored into the
  cache column of this step. A program computes rows ``d`` and ``d + head_dim/2`` of one head (RoPE's
  rotate-half pairs), so the rotation needs no data from another program;
* ``_gemv_residual``: ``residual + W @ a``, for the out-projection and the down projection;
* ``_gate_up_silu``: RMSNorm(x) -> packed gate/up GEMV -> ``silu(gate) * up``; a program computes
  gate row ``n`` and up row ``n`` together.

Every program recomputes the RMS of x (a few KB, read from L2) instead of a separate norm kernel.
Roundings follow transformers' Llama in the model dtype: the normed input is rounded before the norm
weight multiplies it, each projection's fp32 sum is rounded once; RoPE, SiLU and the residual add
compute in fp32 from those rounded values and round once. Each output row is summed in a fixed order,
so results are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl


@dataclass(frozen=True)
class Launch:
    block_n: int  # output rows per program (per half, for the paired kernels)
    block_k: int  # input columns per loop iteration
    num_warps: int = 4
    num_stages: int = 3

    def kwargs(self) -> dict:
        return {"BLOCK_N": self.block_n, "BLOCK_K": self.block_k, "num_warps": self.num_warps,
                "num_stages": self.num_stages}


# Per kernel, the fastest of gpu_box.gemv_shapes' sweep on the AuroraCap-7B shapes (an H200; o and down summed
# for the shared kernel).
LAUNCH = {"qkv_rope": Launch(8, 256, 4, 3), "gemv_residual": Launch(4, 512, 8, 3), "gate_up_silu": Launch(4, 1024, 4, 3)}


@triton.jit
def _inverse_rms(x_ptr, K: tl.constexpr, eps, BLOCK_K: tl.constexpr):
    """1 / sqrt(mean(x^2) + eps) of the length-K vector at x_ptr, in fp32."""
    total = tl.zeros((BLOCK_K,), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        x = tl.load(x_ptr + k, mask=k < K, other=0.0).to(tl.float32)
        total += x * x
    return tl.math.rsqrt(tl.sum(total, axis=0) / K + eps)


@triton.jit
def _paired_normed_gemv(x_ptr, ln_ptr, w_ptr, rows_lo, rows_hi, K: tl.constexpr, eps,
                        BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """(W[rows_lo] @ h, W[rows_hi] @ h) in fp32, rounded to the weights' dtype, for h = ln * RMSNorm(x)."""
    dtype = w_ptr.dtype.element_ty
    inv = _inverse_rms(x_ptr, K, eps, BLOCK_K)
    acc_lo = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    acc_hi = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        in_k = k < K
        x = tl.load(x_ptr + k, mask=in_k, other=0.0).to(tl.float32)
        h = ((x * inv).to(dtype) * tl.load(ln_ptr + k, mask=in_k, other=0.0)).to(tl.float32)
        w_lo = tl.load(w_ptr + rows_lo[:, None] * K + k[None, :], mask=in_k[None, :], other=0.0,
                       eviction_policy="evict_first")
        w_hi = tl.load(w_ptr + rows_hi[:, None] * K + k[None, :], mask=in_k[None, :], other=0.0,
                       eviction_policy="evict_first")
        acc_lo += w_lo.to(tl.float32) * h[None, :]
        acc_hi += w_hi.to(tl.float32) * h[None, :]
    return tl.sum(acc_lo, axis=1).to(dtype), tl.sum(acc_hi, axis=1).to(dtype)


@triton.jit
def _qkv_rope(
    x_ptr, ln_ptr, w_ptr, cos_ptr, sin_ptr, q_ptr, cache_ptr, column_ptr,
    eps, heads, kv_heads, cache_s_kv, cache_s_head, cache_s_col,
    K: tl.constexpr, D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    half: tl.constexpr = D // 2
    blocks_per_head: tl.constexpr = half // BLOCK_N
    pid = tl.program_id(0)
    head = pid // blocks_per_head  # q heads, then k heads, then v heads, as the packed rows are
    d = (pid % blocks_per_head) * BLOCK_N + tl.arange(0, BLOCK_N)
    lo, hi = _paired_normed_gemv(x_ptr, ln_ptr, w_ptr, head * D + d, head * D + half + d, K, eps, BLOCK_N, BLOCK_K)
    dtype = w_ptr.dtype.element_ty
    if head < heads + kv_heads:  # q or k: rotate-half RoPE
        lo32, hi32 = lo.to(tl.float32), hi.to(tl.float32)
        cos_lo = tl.load(cos_ptr + d).to(tl.float32)
        cos_hi = tl.load(cos_ptr + half + d).to(tl.float32)
        sin_lo = tl.load(sin_ptr + d).to(tl.float32)
        sin_hi = tl.load(sin_ptr + half + d).to(tl.float32)
        lo = (lo32 * cos_lo - hi32 * sin_lo).to(dtype)
        hi = (hi32 * cos_hi + lo32 * sin_hi).to(dtype)
    if head < heads:
        tl.store(q_ptr + head * D + d, lo)
        tl.store(q_ptr + head * D + half + d, hi)
    else:
        which = (head - heads) // kv_heads  # 0: k, 1: v
        kv_head = (head - heads) % kv_heads
        column = tl.load(column_ptr)
        out = cache_ptr + which * cache_s_kv + kv_head * cache_s_head + column * cache_s_col
        tl.store(out + d, lo)
        tl.store(out + half + d, hi)


@triton.jit
def _gemv_residual(a_ptr, w_ptr, residual_ptr, out_ptr, N, K: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    dtype = w_ptr.dtype.element_ty
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    in_n = rows < N
    acc = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        in_k = k < K
        a = tl.load(a_ptr + k, mask=in_k, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + rows[:, None] * K + k[None, :], mask=in_n[:, None] & in_k[None, :], other=0.0,
                    eviction_policy="evict_first")
        acc += w.to(tl.float32) * a[None, :]
    projected = tl.sum(acc, axis=1).to(dtype).to(tl.float32)
    residual = tl.load(residual_ptr + rows, mask=in_n, other=0.0).to(tl.float32)
    tl.store(out_ptr + rows, (residual + projected).to(dtype), mask=in_n)


@triton.jit
def _gate_up_silu(x_ptr, ln_ptr, w_ptr, out_ptr, inter, K: tl.constexpr, eps, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    gate, up = _paired_normed_gemv(x_ptr, ln_ptr, w_ptr, n, inter + n, K, eps, BLOCK_N, BLOCK_K)
    dtype = w_ptr.dtype.element_ty
    g = gate.to(tl.float32)
    silu = (g / (1.0 + tl.exp(-g))).to(dtype).to(tl.float32)
    tl.store(out_ptr + n, (silu * up.to(tl.float32)).to(dtype))


def _check(x: torch.Tensor, w: torch.Tensor) -> None:
    if x.shape[0] != 1 or not x.is_contiguous() or not w.is_contiguous() or w.dtype != x.dtype:
        raise ValueError(f"fused decode GEMV: x {tuple(x.shape)} {x.dtype}, w {tuple(w.shape)} {w.dtype} is not a "
                         "contiguous batch-1 step of one dtype")


def qkv_rope(x: torch.Tensor, ln: torch.Tensor, w_qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
             cache: torch.Tensor, column: torch.Tensor, eps: float, heads: int, kv_heads: int,
             launch: Launch | None = None) -> torch.Tensor:
    """x (1, 1, hidden) -> q (1, heads, 1, head_dim), RoPE applied; k (RoPE applied) and v are stored into
    ``cache`` (2, 1, kv_heads, max_len, head_dim) at ``column`` (a (1,) device tensor). ``w_qkv`` is the
    packed (heads + 2 kv_heads) * head_dim rows; cos, sin (1, 1, head_dim) the step's rotary angles.
    ``launch`` defaults to ``LAUNCH["qkv_rope"]`` (likewise below)."""
    launch = launch or LAUNCH["qkv_rope"]
    _check(x, w_qkv)
    d = cache.shape[-1]
    if (d // 2) % launch.block_n or cache.stride(-1) != 1 or cache.shape[1] != 1:
        raise ValueError(f"fused decode GEMV: cache {tuple(cache.shape)} with {launch.block_n} rows per program")
    q = torch.empty((1, heads, 1, d), device=x.device, dtype=x.dtype)
    grid = ((heads + 2 * kv_heads) * (d // 2) // launch.block_n,)
    _qkv_rope[grid](
        x, ln, w_qkv, cos.contiguous(), sin.contiguous(), q, cache, column,
        eps, heads, kv_heads, cache.stride(0), cache.stride(2), cache.stride(3),
        K=x.shape[-1], D=d, **launch.kwargs(),
    )
    return q


def gemv_residual(residual: torch.Tensor, a: torch.Tensor, w: torch.Tensor, launch: Launch | None = None
                  ) -> torch.Tensor:
    """residual (1, 1, N) + (a (1, ..., K) flattened) @ w (N, K)^T -> (1, 1, N)."""
    launch = launch or LAUNCH["gemv_residual"]
    _check(residual, w)
    n, k = w.shape
    out = torch.empty_like(residual)
    _gemv_residual[(triton.cdiv(n, launch.block_n),)](a.reshape(-1), w, residual, out, n, K=k, **launch.kwargs())
    return out


def gate_up_silu(x: torch.Tensor, ln: torch.Tensor, w_gate_up: torch.Tensor, eps: float,
                 launch: Launch | None = None) -> torch.Tensor:
    """x (1, 1, hidden) -> silu(gate) * up (1, 1, intermediate); ``w_gate_up`` is gate's rows, then up's."""
    launch = launch or LAUNCH["gate_up_silu"]
    _check(x, w_gate_up)
    intermediate = w_gate_up.shape[0] // 2
    if intermediate % launch.block_n:
        raise ValueError(f"fused decode GEMV: intermediate size {intermediate} with {launch.block_n} rows per program")
    out = torch.empty((1, 1, intermediate), device=x.device, dtype=x.dtype)
    _gate_up_silu[(intermediate // launch.block_n,)](x, ln, w_gate_up, out, intermediate, K=x.shape[-1], eps=eps,
                                                      **launch.kwargs())
    return out
