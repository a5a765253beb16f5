"""The fused batch-1 decode kernels (Triton, CUDA) against the decoder's own torch layer functions, run by
Triton's CPU interpreter; and the decoder's tokens through them."""

from __future__ import annotations

import pytest
from triton_interpreter import run_interpreted

_KERNEL_CHECK = """
import torch
import torch.nn.functional as F
from vdc_bench.models.auroracap import decode_gemv as dg
from vdc_bench.models.auroracap.static_decode import attention_inputs, attention_output_and_mlp, _rms_norm

torch.manual_seed(0)
# GQA (6 query heads over 2 KV heads), a hidden size that is not a multiple of the K block (masked tail),
# an out-projection whose rows are not a multiple of the row block; realistic scales (unit-variance
# activations, 1/sqrt(K) weights, norm weights near 1), rotary angles over a long context.
heads, kv_heads, d, hidden, inter, max_len, eps = 6, 2, 32, 200, 72, 40, 1e-5
launch = dict(launch=dg.Launch(block_n=8, block_k=64))
for dtype, tol in ((torch.float32, 2e-6), (torch.float16, 2e-3)):
    x = torch.randn(1, 1, hidden).to(dtype)
    ln1, ln2 = [(1 + 0.2 * torch.randn(hidden)).to(dtype) for _ in range(2)]
    w_qkv = (torch.randn((heads + 2 * kv_heads) * d, hidden) / hidden ** 0.5).to(dtype)
    w_o = (torch.randn(hidden, heads * d) / (heads * d) ** 0.5).to(dtype)
    w_gate_up = (torch.randn(2 * inter, hidden) / hidden ** 0.5).to(dtype)
    w_down = (torch.randn(hidden, inter) / inter ** 0.5).to(dtype)
    angle = 3000 * torch.rand(1, 1, d // 2) / (10000 ** (torch.arange(d // 2) / (d // 2)))
    cos = torch.cat((angle.cos(), angle.cos()), -1).to(dtype)
    sin = torch.cat((angle.sin(), angle.sin()), -1).to(dtype)
    column = torch.tensor([17])

    def rel(got, want):
        return float((got.double() - want.double()).norm() / want.double().norm())

    # q, and k/v stored at the step's column, nowhere else
    cache = torch.randn(2, 1, kv_heads, max_len, d).to(dtype)
    want_cache = cache.clone()
    q = dg.qkv_rope(x, ln1, w_qkv, cos, sin, cache, column, eps, heads, kv_heads, **launch)
    want_q, _ = attention_inputs(x, cos, sin, ln1, w_qkv, eps, d, heads * d, kv_heads * d, cache=want_cache,
                                 slot=(torch.tensor([0]), column))
    assert q.shape == (1, heads, 1, d) and q.dtype == dtype
    assert rel(q, want_q) < tol, ("q", dtype, rel(q, want_q))
    assert rel(cache[:, :, :, 17], want_cache[:, :, :, 17]) < tol, ("kv", dtype)
    others = torch.arange(max_len) != 17
    assert torch.equal(cache[:, :, :, others], want_cache[:, :, :, others])

    # out-projection + residual, then gate/up + SiLU and down + residual: the decoder's torch layer tail
    attn = torch.randn(1, heads, 1, d).to(dtype)
    mid = dg.gemv_residual(x, attn, w_o, **launch)
    got = dg.gemv_residual(mid, dg.gate_up_silu(mid, ln2, w_gate_up, eps, **launch), w_down, **launch)
    want = attention_output_and_mlp(x, attn, w_o, ln2, w_gate_up, w_down, eps)
    assert got.shape == want.shape == (1, 1, hidden) and got.dtype == dtype
    assert rel(got, want) < tol, ("layer", dtype, rel(got, want))
    gate, up = F.linear(_rms_norm(mid, ln2, eps), w_gate_up).chunk(2, dim=-1)
    act = dg.gate_up_silu(mid, ln2, w_gate_up, eps, **launch)
    assert rel(act, F.silu(gate) * up) < tol, ("act", dtype)
print("kernels ok")
"""

_DECODER_CHECK = """
import sys
import torch
from vdc_bench.models.auroracap.checkpoint import locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.static_decode import StaticKVDecoder

lm = AuroraCapModel.from_checkpoint(locate(sys.argv[1]), torch.float32, torch.device("cpu")).language_model
g = torch.Generator().manual_seed(5)
with torch.no_grad():  # the random checkpoint's RMSNorm weights are all 1, which would hide a dropped norm weight
    for name, p in lm.named_parameters():
        if "norm" in name:
            p.normal_(1.0, 0.3, generator=g)
lengths, limits = (9, 30, 5, 22), [12, 3, 10, 1]
sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in lengths]
torch_layers = StaticKVDecoder(lm, sync_every=4)
fused = StaticKVDecoder(lm, batch1="fused", sync_every=4)
assert (torch_layers.batch1, fused.batch1) == ("torch", "fused")  # auto on a CPU device: torch
for batch in (1, 2):  # batch 1 decodes through the kernels; batch 2 never does
    want = torch_layers.generate(sequences, limits, 10**6, batch_size=batch)
    got = fused.generate(sequences, limits, 10**6, batch_size=batch)
    assert all(torch.equal(a.tokens, b.tokens) for a, b in zip(want, got, strict=True)), (batch, [
        (a.tokens.tolist(), b.tokens.tolist()) for a, b in zip(want, got, strict=True)])
    assert [len(a.tokens) for a in got] == limits
print("decoder ok")
"""


def test_kernels_match_the_decoders_torch_layers():
    """fp32 and fp16, GQA, masked K tails, ragged row blocks: QKV + RoPE + cache store, out-projection +
    residual, gate/up + SiLU, down + residual equal the decoder's torch functions up to summation order,
    and the cache changes at the step's column only."""
    assert "kernels ok" in run_interpreted(_KERNEL_CHECK)


def test_decoder_tokens_equal_through_the_kernels(model_tiny_checkpoints):
    """Ragged requests (EOS never, length limits 1 to 12) streamed through one slot and through two: the
    fused batch-1 path gives the torch path's fp32 greedy tokens."""
    assert "decoder ok" in run_interpreted(_DECODER_CHECK, str(model_tiny_checkpoints["xtuner"]))


def test_model_arg_selects_the_kernels():
    import torch

    from vdc_bench.models.auroracap.settings import AuroraCapSettings, ModelArgError
    from vdc_bench.models.auroracap.static_decode import batch1_kernels

    assert AuroraCapSettings.from_model_args({"pretrained": "x"}).decode_batch1 == "auto"
    assert batch1_kernels("auto", torch.device("cuda")) == "fused"
    assert batch1_kernels("auto", torch.device("cpu")) == "torch"
    assert batch1_kernels("fused", torch.device("cpu")) == "fused"
    assert AuroraCapSettings.from_model_args({"pretrained": "x", "decode_batch1": "fused"}).decode_batch1 == "fused"
    with pytest.raises(ModelArgError, match="decode_batch1 must be one of"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "decode_batch1": "triton"})
