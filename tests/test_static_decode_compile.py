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
    would move the whole cache twice per layer and token), and the tokens equal eager's on a ragged batch,
    with caches of two lengths through one compilation (symbolic in the cache length)."""
    from torch._inductor.utils import run_and_get_code

    lm = AuroraCapModel.from_checkpoint(locate(str(model_tiny_checkpoints["xtuner"])), torch.float32,
                                        torch.device("cpu")).language_model
    g = torch.Generator().manual_seed(2)
    batches = [[torch.randn(n, lm.config.hidden_size, generator=g) for n in lengths]
               for lengths in ((9, 30, 17), (300, 41, 7))]  # caches of 256 and 512 columns
    compiled = StaticKVDecoder(lm)
    compiled._step_fns = tuple(torch.compile(f, dynamic=False) for f in compiled._eager)
    torch._dynamo.reset()
    try:
        want = [StaticKVDecoder(lm).generate(sequences, 12, 10**6) for sequences in batches]
        got, code = run_and_get_code(compiled.generate, batches[0], 12, 10**6)
        counters.clear()
        got = [got, compiled.generate(batches[1], 12, 10**6)]
        assert compiled._buffers.max_len == 512 and not counters["stats"]["unique_graphs"]  # nothing traced again
    finally:
        torch._dynamo.reset()
    for a, b in zip(want, got, strict=True):
        assert [d.tokens.tolist() for d in a] == [d.tokens.tolist() for d in b]
    source = "".join(code)
    assert "index_put" in source
    two, rows, heads = compiled._buffers.kv_shape[:3]
    cache_like = f"empty_strided_cpu(({two}, {rows}, {heads}, "
    assert not [line for line in source.splitlines() if cache_like in line]


def test_decode_step_is_traced_once_whatever_the_cache_length(model_tiny_checkpoints):
    """The decode step's functions take the cache as an argument; a longer cache (a later batch's longer
    prompts or captions, or a row that grows it) must not trace them again: that cost seconds mid-run."""
    lm = AuroraCapModel.from_checkpoint(locate(str(model_tiny_checkpoints["xtuner"])), torch.float32,
                                        torch.device("cpu")).language_model
    decoder = StaticKVDecoder(lm)
    decoder._step_fns = tuple(torch.compile(f, dynamic=False, backend="eager") for f in decoder._eager)
    g = torch.Generator().manual_seed(4)
    torch._dynamo.reset()
    counters.clear()
    try:
        for n, new in ((9, 4), (400, 4), (30, 300)):  # caches of 256, 512 and 512 columns, then a 1 KB-wide output
            seq = torch.randn(n, lm.config.hidden_size, generator=g)
            decoder.generate([seq, seq[: n // 2]], new, 10**6)
        assert decoder._buffers.max_len == 512
        assert counters["stats"]["unique_graphs"] == 3  # pre, between, post: once each
    finally:
        torch._dynamo.reset()
