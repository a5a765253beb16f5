"""The decode floor counts the bytes a step really reads, from Llama-2-7B's shapes."""

from __future__ import annotations

import pytest

from vdc_bench.gpu_bench.roofline import Card, LlmShape, decode_step_seconds, prefill_seconds

HIDDEN, INTER, LAYERS, VOCAB = 4096, 11008, 32, 32000


def test_llm_shape_matches_llama_7b_and_leaves_out_the_embedding_table():
    per_layer = 4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTER + 2 * HIDDEN  # attention, MLP, two norms
    total = VOCAB * HIDDEN + LAYERS * per_layer + HIDDEN + VOCAB * HIDDEN  # embedding, layers, norm, head
    llm = LlmShape()
    assert llm.params == pytest.approx(total, rel=1e-4)
    read = (total - VOCAB * HIDDEN) * 2  # a step reads one row of the embedding table, all the rest
    assert llm.weight_bytes == pytest.approx(read, rel=1e-4)
    card = Card("test", bandwidth=2e12, flops=1e15)
    assert decode_step_seconds([1000, 3000], card) == pytest.approx((read + 4000 * llm.kv_bytes_per_token) / 2e12,
                                                                     rel=1e-4)
    matmuls = 2 * (total - 2 * VOCAB * HIDDEN) * 500 + 2 * 500 * 500 * HIDDEN * LAYERS + 2 * VOCAB * HIDDEN
    assert prefill_seconds(500, card) == pytest.approx(matmuls / 1e15, rel=1e-4)


def test_caption_floor_adds_each_captions_vit_to_prefill_and_decode():
    from vdc_bench.gpu_bench.roofline import caption_seconds, vit_flops

    card = Card("test", bandwidth=2e12, flops=1e15)
    # Two blocks, 10 tokens then 6 after the first block's merge: the merge sits between attention and MLP.
    want = (8 * 4 * 4 * 10 + 4 * 10 * 10 * 4 + 4 * 4 * 16 * 6) + (8 * 4 * 4 * 6 + 4 * 6 * 6 * 4 + 4 * 4 * 16 * 6)
    assert vit_flops([10, 6], width=4, mlp=16) == want
    base = caption_seconds(100, 5, card, batch=3)
    assert caption_seconds(100, 5, card, batch=3, vision_flops=2e12) == pytest.approx(base + 3 * 2e12 / 1e15)
