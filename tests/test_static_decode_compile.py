"""The static decoder's compiled prefill is traced once for every prompt length (no per-length
recompilation, and no all-sizes-symbolic trace, which cost seconds at each process's first prefill), and
inductor's length-generic kernels give eager's tokens."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from vdc_bench.models.auroracap.checkpoint import locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.static_decode import StaticKVDecoder


def test_prefill_is_traced_once_for_all_lengths(model_tiny_checkpoints):
    lm = AuroraCapModel.from_checkpoint(locate(str(model_tiny_checkpoints["xtuner"])), torch.float32,
                                        torch.device("cpu")).language_model
    plain = StaticKVDecoder(lm)
    traced = StaticKVDecoder(lm)
    # What the constructor does on CUDA, with dynamo's eager backend (no inductor on CPU here).
    traced._length_generic = True
    traced._prefill_fns = tuple(torch.compile(f, backend="eager") for f in traced._eager)
    torch._dynamo.reset()
    counters.clear()
    g = torch.Generator().manual_seed(1)
    for n in (9, 30, 17):
        seq = torch.randn(n, lm.config.hidden_size, generator=g)
        assert torch.equal(traced.generate([seq], 5, 10**6)[0].tokens, plain.generate([seq], 5, 10**6)[0].tokens)
    assert counters["stats"]["unique_graphs"] == 3  # one per function (pre, between, post), whatever the length
    torch._dynamo.reset()


@pytest.mark.slow  # inductor compiles C++ kernels on the CPU: ~30 s
def test_inductor_prefill_generic_in_length_gives_eager_tokens(model_tiny_checkpoints):
    """What CUDA runs (inductor, sequence length symbolic), here on the CPU in fp32: the same tokens as eager."""
    lm = AuroraCapModel.from_checkpoint(locate(str(model_tiny_checkpoints["xtuner"])), torch.float32,
                                        torch.device("cpu")).language_model
    plain = StaticKVDecoder(lm)
    compiled = StaticKVDecoder(lm)
    compiled._length_generic = True
    compiled._prefill_fns = tuple(torch.compile(f) for f in compiled._eager)
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(1)
    try:
        for n in (9, 30, 17, 64):
            seq = torch.randn(n, lm.config.hidden_size, generator=g)
            assert torch.equal(compiled.generate([seq], 12, 10**6)[0].tokens, plain.generate([seq], 12, 10**6)[0].tokens)
    finally:
        torch._dynamo.reset()
