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


def _eager_and_compiled(checkpoints, **compile_kwargs) -> tuple[StaticKVDecoder, StaticKVDecoder]:
    """An eager decoder and one whose prefill is compiled as the constructor does on CUDA, length-generic."""
    lm = AuroraCapModel.from_checkpoint(locate(str(checkpoints["xtuner"])), torch.float32,
                                        torch.device("cpu")).language_model
    compiled = StaticKVDecoder(lm)
    compiled._length_generic = True
    compiled._prefill_fns = tuple(torch.compile(f, **compile_kwargs) for f in compiled._eager)
    return StaticKVDecoder(lm), compiled


def _same_tokens(plain: StaticKVDecoder, compiled: StaticKVDecoder, lengths, new_tokens: int) -> None:
    g = torch.Generator().manual_seed(1)
    for n in lengths:
        seq = torch.randn(n, plain.lm.config.hidden_size, generator=g)
        want = plain.generate([seq], new_tokens, 10**6)[0].tokens
        assert torch.equal(compiled.generate([seq], new_tokens, 10**6)[0].tokens, want), n


def test_prefill_is_traced_once_for_all_lengths(model_tiny_checkpoints):
    plain, traced = _eager_and_compiled(model_tiny_checkpoints, backend="eager")  # dynamo only: no inductor here
    torch._dynamo.reset()
    counters.clear()
    try:
        _same_tokens(plain, traced, (9, 30, 17), 5)
        assert counters["stats"]["unique_graphs"] == 3  # one per function (pre, between, post), whatever the length
    finally:
        torch._dynamo.reset()


@pytest.mark.slow  # inductor compiles C++ kernels on the CPU: ~30 s
def test_inductor_prefill_generic_in_length_gives_eager_tokens(model_tiny_checkpoints):
    """What CUDA runs (inductor, sequence length symbolic), here on the CPU in fp32: the same tokens as eager."""
    plain, compiled = _eager_and_compiled(model_tiny_checkpoints)
    torch._dynamo.reset()
    try:
        _same_tokens(plain, compiled, (9, 30, 17, 64), 12)
    finally:
        torch._dynamo.reset()


@pytest.mark.slow  # inductor compiles C++ kernels on the CPU: ~30 s
def test_inductor_decode_step_writes_the_cache_in_place_and_gives_eager_tokens(model_tiny_checkpoints):
    """The decode step's compiled functions (as on CUDA, here on the CPU in fp32) store each layer's new K/V
    into the cache from the kernel that applies RoPE: the cache is written in place, never copied (a copy
    would move the whole cache twice per layer and token), and the tokens equal eager's on a ragged batch."""
    from torch._inductor.utils import run_and_get_code

    lm = AuroraCapModel.from_checkpoint(locate(str(model_tiny_checkpoints["xtuner"])), torch.float32,
                                        torch.device("cpu")).language_model
    g = torch.Generator().manual_seed(2)
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in (9, 30, 17)]
    want = StaticKVDecoder(lm).generate(sequences, 12, 10**6)
    compiled = StaticKVDecoder(lm)
    compiled._step_fns = tuple(torch.compile(f, dynamic=False) for f in compiled._eager)
    torch._dynamo.reset()
    try:
        got, code = run_and_get_code(compiled.generate, sequences, 12, 10**6)
    finally:
        torch._dynamo.reset()
    for a, b in zip(want, got, strict=True):
        assert torch.equal(a.tokens, b.tokens)
    cache_shape = str(tuple(compiled._buffers.kv_shape))
    assert len(code) >= 2 and "index_put" in "".join(code)
    assert not [line for src in code for line in src.splitlines() if "empty_strided" in line and cache_shape in line]
