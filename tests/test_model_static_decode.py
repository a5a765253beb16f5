"""The static-cache greedy decoder (GPU fast path) gives exactly the tokens of transformers' generate."""

from __future__ import annotations

import torch

from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
from vdc_bench.models.auroracap.checkpoint import locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings
from vdc_bench.models.auroracap.static_decode import DecodeRequest, StaticKVDecoder


def _left_padded(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(s.shape[0] for s in sequences)
    embeds = torch.zeros(len(sequences), longest, sequences[0].shape[1])
    mask = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, seq in enumerate(sequences):
        embeds[row, longest - seq.shape[0] :] = seq
        mask[row, longest - seq.shape[0] :] = 1
    return embeds, mask


def _language_model(checkpoint):
    return AuroraCapModel.from_checkpoint(locate(str(checkpoint)), torch.float32, torch.device("cpu")).language_model


def _stacked(decoded, width: int) -> torch.Tensor:
    out = torch.zeros(len(decoded), width, dtype=torch.long)
    for row, d in enumerate(decoded):
        out[row, : len(d.tokens)] = d.tokens
    return out


def test_static_decoder_matches_generate_on_a_ragged_batch(model_tiny_checkpoints):
    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(3)
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in (41, 17, 6)]
    embeds, mask = _left_padded(sequences)
    reference = lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=32, min_new_tokens=32,
                            do_sample=False, num_beams=1, eos_token_id=None, pad_token_id=0)
    out = StaticKVDecoder(lm).generate(sequences, 32, eos_token_id=10**6)
    assert [d.batch for d in out] == [3, 3, 3]
    assert torch.equal(_stacked(out, 32), reference)


def test_static_decoder_stops_rows_at_eos_like_generate(model_tiny_checkpoints):
    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(5)
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in (12, 30)]
    free_run = StaticKVDecoder(lm).generate(sequences, 40, eos_token_id=10**6)
    eos = int(free_run[0].tokens[7])  # a token row 0 really emits: that row must end there, row 1 goes on
    embeds, mask = _left_padded(sequences)
    reference = lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=40, do_sample=False,
                            num_beams=1, eos_token_id=eos, pad_token_id=0)
    out = StaticKVDecoder(lm, sync_every=4).generate(sequences, 40, eos_token_id=eos)
    assert len(out[0].tokens) <= 8 and int(out[0].tokens[-1]) == eos
    assert torch.equal(_stacked(out, reference.shape[1]), reference)


def test_continuous_batching_gives_each_request_its_own_tokens(model_tiny_checkpoints):
    """Ragged prompts, different length limits, EOS: 7 requests through 3 slots (refills, a cache that
    grows for a longer late request) give the tokens each request gets decoded on its own."""
    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(11)
    lengths, limits = (9, 30, 5, 22, 14, 90, 7), [12, 5, 40, 1, 25, 18, 33]
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in lengths]
    free_run = StaticKVDecoder(lm).generate(sequences, limits, eos_token_id=10**6)
    assert [len(d.tokens) for d in free_run] == limits
    eos = int(free_run[2].tokens[9])  # request 2 emits it at step 10: it must stop there (others may too)
    single = StaticKVDecoder(lm)
    alone = [single.generate([s], n, eos_token_id=eos)[0].tokens for s, n in zip(sequences, limits, strict=True)]
    assert len(alone[2]) <= 10
    decoder = StaticKVDecoder(lm, sync_every=4)
    finished_order = [i for i, _ in decoder.stream(
        (DecodeRequest(s, n) for s, n in zip(sequences, limits, strict=True)), batch_size=3, eos_token_id=eos)]
    assert sorted(finished_order) == list(range(7)) and finished_order != list(range(7))
    continuous = decoder.generate(sequences, limits, eos_token_id=eos, batch_size=3)
    assert {d.batch for d in continuous} == {3}
    for want, got in zip(alone, continuous, strict=True):
        assert torch.equal(got.tokens, want)
    static = StaticKVDecoder(lm).generate(sequences, limits, eos_token_id=eos)
    assert all(torch.equal(a.tokens, b.tokens) for a, b in zip(static, continuous, strict=True))


def test_captioner_static_and_hf_paths_give_identical_captions(model_tiny_checkpoints, model_make_video):
    """Three requests (one with a missing video) stream through two static rows: the captions and the
    failure equal transformers' generate on one batch."""
    video = model_make_video("clip.mp4", frames=12)
    requests = [CaptionRequest("Describe the video.", [str(video)]), CaptionRequest("One sentence.", [str(video)]),
                CaptionRequest("Describe.", ["/nonexistent/clip.mp4"]), CaptionRequest("Say it.", [str(video)])]
    generation = GenerationSettings(max_new_tokens=24)
    texts = {}
    for backend, batch_size in (("hf", 4), ("static", 2)):
        settings = AuroraCapSettings(pretrained=str(model_tiny_checkpoints["xtuner"]), num_frm=3, decode=backend)
        captioner = AuroraCapCaptioner(settings, torch.device("cpu"))
        results = dict(captioner.caption_stream(requests, generation, batch_size))
        assert sorted(results) == [0, 1, 2, 3]
        assert [r.error is None for _, r in sorted(results.items())] == [True, True, False, True]
        assert {r.stats["batch_size"] for r in results.values() if r.error is None} == {3 if backend == "hf" else 2}
        texts[backend] = [(r.text, r.output_tokens, r.error) for _, r in sorted(results.items())]
    assert texts["static"] == texts["hf"]


def test_attention_spans_shorter_than_the_cache_give_the_same_tokens(model_tiny_checkpoints, monkeypatch):
    """A decode step's attention reads only the cache's first columns (a span, rounded up to a quantum) that
    hold the live rows' tokens. With a quantum of 8 the span changes every few steps and stays well below the
    cache's length (rounded to 256), through refills of slots and rows of very different lengths: every
    request's tokens equal those of a decoder whose attention reads the whole cache."""
    import vdc_bench.models.auroracap.static_decode as static_decode

    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(13)
    lengths, limits = (9, 47, 5, 22, 14, 61, 7), [12, 5, 30, 3, 25, 18, 33]
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in lengths]
    whole = StaticKVDecoder(lm, sync_every=4).generate(sequences, limits, eos_token_id=10**6, batch_size=3)
    spans = []
    monkeypatch.setattr(static_decode, "_SPAN_QUANTUM", 8)
    decoder = StaticKVDecoder(lm, sync_every=4)
    step = decoder._decode_step
    decoder._decode_step = lambda span: (spans.append(span), step(span))
    spanned = decoder.generate(sequences, limits, eos_token_id=10**6, batch_size=3)
    assert decoder._buffers.max_len == 256 and max(spans) <= 80 and len(set(spans)) >= 5
    for want, got in zip(whole, spanned, strict=True):
        assert torch.equal(got.tokens, want.tokens)


def test_steps_inside_bookkeeping_kept_leave_no_trace(model_tiny_checkpoints):
    """What a graph capture's warm-up steps (and a profile's timing replays) rely on: steps run inside
    ``bookkeeping_kept`` leave the positions, columns, mask, tokens and outputs as they were; the same steps
    outside it do change them."""
    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(5)
    decoder = StaticKVDecoder(lm)
    decoder.generate([torch.randn(n, lm.config.hidden_size, generator=g) for n in (9, 4)], 6, eos_token_id=10**6)
    buf = decoder._buffers
    with torch.inference_mode():  # the decoder's buffers are inference tensors, as in every real run
        buf.finished.fill_(False)  # rows live again, so a step moves every piece of the bookkeeping
        before = [t.clone() for t in buf.bookkeeping()]
        with buf.bookkeeping_kept():
            for _ in range(3):
                decoder._decode_step(buf.max_len)
        assert all(torch.equal(a, b) for a, b in zip(before, buf.bookkeeping(), strict=True))
        decoder._decode_step(buf.max_len)
        assert not all(torch.equal(a, b) for a, b in zip(before, buf.bookkeeping(), strict=True))
