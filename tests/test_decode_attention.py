"""The split-K decode attention kernel (Triton, CUDA) against SDPA with the decoder's mask, run by
Triton's CPU interpreter; and the decoder's choice between the two."""

from __future__ import annotations

import pytest
from triton_interpreter import run_interpreted

from vdc_bench.models.auroracap.settings import AuroraCapSettings, ModelArgError
from vdc_bench.models.auroracap.static_decode import _attention_backend

_KERNEL_CHECK = """
import torch
import torch.nn.functional as F
from vdc_bench.models.auroracap import decode_attention as da

torch.manual_seed(0)
# (heads, kv_heads, lengths, max_len, dim, programs wanted): MHA and GQA; lengths of 1, of whole blocks
# and not; splits of one block and of several (a small program target); a split wholly past a row.
cases = [(4, 4, [1, 64, 65, 200], 256, 32, 2048), (8, 2, [130, 1, 77], 192, 16, 2048),
         (2, 1, [1000, 3], 1024, 16, 2048), (4, 2, [300, 129, 1], 512, 16, 8), (3, 3, [448], 448, 32, 4)]
for dtype, tol in ((torch.float32, 1e-6), (torch.float16, 2e-3)):
    for heads, kv_heads, lengths, max_len, dim, programs in cases:
        da._TARGET_PROGRAMS = programs
        b = len(lengths)
        q = torch.randn(b, 1, heads, dim).to(dtype).transpose(1, 2)  # the decoder's transposed view
        kv = torch.randn(2, b, kv_heads, max_len, dim).to(dtype)
        length = torch.tensor(lengths)
        scale = dim ** -0.5
        got = da.decode_attention(q, kv[0], kv[1], length, scale)
        assert got.shape == (b, heads, 1, dim) and got.dtype == dtype
        assert torch.isfinite(got).all()
        mask = torch.where(torch.arange(max_len)[None] < length[:, None], 0.0, -torch.inf)[:, None, None, :]
        want = F.scaled_dot_product_attention(q.double(), kv[0].double(), kv[1].double(), attn_mask=mask.double(),
                                              scale=scale, enable_gqa=True)
        err = float((got.double() - want).norm() / want.norm())
        assert err < tol, (dtype, heads, kv_heads, lengths, err)
        # Columns past a row's length must not count: garbage there changes nothing.
        kv2 = kv.clone()
        for row, n in enumerate(lengths):
            kv2[:, row, :, n:] = 1e4
        assert torch.equal(da.decode_attention(q, kv2[0], kv2[1], length, scale), got)
print("kernel ok")
"""

_DECODER_CHECK = """
import sys
import torch
from vdc_bench.models.auroracap import decode_attention as da
from vdc_bench.models.auroracap.checkpoint import locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.static_decode import StaticKVDecoder

da._TARGET_PROGRAMS = 16  # the interpreter runs every program in Python: few, long splits
lm = AuroraCapModel.from_checkpoint(locate(sys.argv[1]), torch.float32, torch.device("cpu")).language_model
g = torch.Generator().manual_seed(11)
lengths, limits = (9, 30, 5, 22, 70), [8, 3, 10, 1, 6]
sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in lengths]
sdpa = StaticKVDecoder(lm, attention="sdpa", sync_every=4).generate(sequences, limits, 10**6, batch_size=2)
split_k = StaticKVDecoder(lm, attention="triton", sync_every=4)
assert split_k.attention == "triton"
got = split_k.generate(sequences, limits, 10**6, batch_size=2)
assert all(torch.equal(a.tokens, b.tokens) for a, b in zip(sdpa, got, strict=True)), [
    (a.tokens.tolist(), b.tokens.tolist()) for a, b in zip(sdpa, got, strict=True)]
print("decoder ok")
"""


def test_kernel_matches_masked_sdpa_on_ragged_lengths():
    """fp32 and fp16, MHA and GQA, lengths 1 / block multiples / not, one or many blocks per split:
    the kernel equals SDPA over the decoder's additive mask, and never reads past a row's length."""
    assert "kernel ok" in run_interpreted(_KERNEL_CHECK)


def test_decoder_tokens_equal_with_the_kernel(model_tiny_checkpoints):
    """Continuous batching (5 ragged requests through 2 slots) gives the same fp32 greedy tokens with
    the split-K kernel as with SDPA."""
    assert "decoder ok" in run_interpreted(_DECODER_CHECK, str(model_tiny_checkpoints["xtuner"]))


def test_backend_choice():
    assert _attention_backend("sdpa", 80) == "sdpa"
    assert _attention_backend("triton", 128) == "triton"
    with pytest.raises(ValueError, match="power-of-two head_dim"):
        _attention_backend("triton", 80)
    with pytest.raises(ValueError, match="attention must be one of"):
        _attention_backend("flash", 128)
    assert AuroraCapSettings.from_model_args({"pretrained": "x"}).decode_attention == "sdpa"
    assert AuroraCapSettings.from_model_args({"pretrained": "x", "decode_attention": "sdpa"}).decode_attention == "sdpa"
    with pytest.raises(ModelArgError, match="decode_attention must be one of"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "decode_attention": "flash"})
