"""The static-cache greedy decoder (GPU fast path) gives exactly the tokens of transformers' generate."""

from __future__ import annotations

import torch

from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
from vdc_bench.models.auroracap.checkpoint import locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings
from vdc_bench.models.auroracap.static_decode import StaticKVDecoder


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


def test_static_decoder_matches_generate_on_a_ragged_batch(model_tiny_checkpoints):
    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(3)
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in (41, 17, 6)]
    embeds, mask = _left_padded(sequences)
    reference = lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=32, min_new_tokens=32,
                            do_sample=False, num_beams=1, eos_token_id=None, pad_token_id=0)
    out = StaticKVDecoder(lm).generate(sequences, 32, eos_token_id=10**6, pad_token_id=0)
    assert torch.equal(out.tokens, reference)


def test_static_decoder_stops_rows_at_eos_like_generate(model_tiny_checkpoints):
    lm = _language_model(model_tiny_checkpoints["xtuner"])
    g = torch.Generator().manual_seed(5)
    sequences = [torch.randn(n, lm.config.hidden_size, generator=g) for n in (12, 30)]
    free_run = StaticKVDecoder(lm).generate(sequences, 40, eos_token_id=10**6, pad_token_id=0).tokens
    eos = int(free_run[0, 7])  # a token row 0 really emits: that row must end there, row 1 goes on
    embeds, mask = _left_padded(sequences)
    reference = lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=40, do_sample=False,
                            num_beams=1, eos_token_id=eos, pad_token_id=0)
    decoder = StaticKVDecoder(lm, sync_every=4)
    out = decoder.generate(sequences, 40, eos_token_id=eos, pad_token_id=0).tokens
    width = reference.shape[1]
    assert torch.equal(out[:, :width], reference)
    assert (out[:, width:] == 0).all()  # only padding after every row finished
    assert (out[0, 8:] == 0).all()


def test_captioner_static_and_hf_paths_give_identical_captions(model_tiny_checkpoints, model_make_video):
    video = model_make_video("clip.mp4", frames=12)
    requests = [CaptionRequest("Describe the video.", [str(video)]), CaptionRequest("One sentence.", [str(video)])]
    generation = GenerationSettings(max_new_tokens=24)
    texts = {}
    for backend in ("hf", "static"):
        settings = AuroraCapSettings(pretrained=str(model_tiny_checkpoints["xtuner"]), num_frm=3, decode=backend)
        results = AuroraCapCaptioner(settings, torch.device("cpu")).caption_batch(requests, generation)
        assert all(r.error is None for r in results)
        texts[backend] = [(r.text, r.output_tokens) for r in results]
    assert texts["static"] == texts["hf"]
