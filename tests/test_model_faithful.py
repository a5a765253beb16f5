"""Equivalence tests meant to fail on real bugs (tests/mutation_check.py proves that they do).

Weights are random but informative (nonzero biases, non-unit LayerNorms, 1/fan_in matrices), the
geometry merges 5-8 tokens per block, and every check runs at ratios 0.1, 0.4 and 1.0:

* the vision tower, block by block (tokens and sizes), against ``reference_tome.py``, a plain-loop
  tower written from the ToMe paper; that reference is itself checked against transformers' CLIP;
* the whole model on a ragged, left-padded batch (3, 2 and 1 frames, prompts of different lengths)
  against transformers' ``LlavaForConditionalGeneration``, whose vision tower is swapped for the
  reference ToMe tower below ratio 1: logits in float64, greedy captions in float32.
"""

from __future__ import annotations

import pytest
import torch
from reference_tome import reference_tower
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlavaForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutputWithPooling

from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
from vdc_bench.models.auroracap.checkpoint import locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import VICUNA_V1_SYSTEM
from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings

CPU = torch.device("cpu")
RATIOS = (0.1, 0.4, 1.0)


@pytest.fixture(scope="module")
def faithful_checkpoint(tmp_path_factory):
    from vdc_bench.models.auroracap.random_checkpoint import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("faithful") / "hf", "hf", "tiny-tome", seed=1, init="realistic")


@pytest.fixture(scope="module")
def faithful_requests(tmp_path_factory):
    """Three requests of 3, 2 and 1 frames (with num_frm=3) and prompts of different lengths; noise pixels."""
    import av
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("faithful_visuals")
    rng = np.random.default_rng(0)

    def video(name: str, frames: int):
        path = root / name
        with av.open(str(path), "w") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height, stream.pix_fmt = 112, 96, "yuv420p"
            for _ in range(frames):
                pixels = rng.integers(0, 255, (96, 112, 3), dtype=np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path

    image = root / "noise.png"
    Image.fromarray(rng.integers(0, 255, (90, 100, 3), dtype=np.uint8)).save(image)
    return [
        CaptionRequest("Describe this video in detail, covering every object and motion.", [video("long.mp4", 20)]),
        CaptionRequest("Caption.", [video("short.mp4", 2)]),
        CaptionRequest("What is in this picture?", [image]),
    ]


def vision_weights(checkpoint) -> dict[str, torch.Tensor]:
    """The CLIP tensors straight from the LLaVA export (not through our loader)."""
    state = load_file(checkpoint / "model.safetensors")
    return {k.removeprefix("vision_tower."): v for k, v in state.items() if k.startswith("vision_tower.")}


class ReferenceToMeCLIP(torch.nn.Module):
    """Stands in for LLaVA's CLIP tower: the plain-loop ToMe reference, all hidden states returned."""

    def __init__(self, weights: dict[str, torch.Tensor], config, ratio: float) -> None:
        super().__init__()
        self.weights, self.config, self.ratio = weights, config, ratio

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> BaseModelOutputWithPooling:
        traces = reference_tower(self.weights, self.config, pixel_values, self.ratio, self.config.num_hidden_layers)
        hidden = tuple(
            torch.stack([trace[i][0] for trace in traces]).to(pixel_values.dtype) for i in range(len(traces[0]))
        )
        return BaseModelOutputWithPooling(last_hidden_state=hidden[-1], hidden_states=hidden)


def load_llava(checkpoint, dtype: torch.dtype, ratio: float) -> LlavaForConditionalGeneration:
    llava = LlavaForConditionalGeneration.from_pretrained(checkpoint, dtype=dtype).eval()
    if ratio < 1.0:  # stock LLaVA has no ToMe; at ratio 1 its own transformers CLIP tower is the reference
        llava.model.vision_tower = ReferenceToMeCLIP(vision_weights(checkpoint), llava.config.vision_config, ratio)
    return llava


def prepared_batch(checkpoint, requests, ratio: float):
    cap = AuroraCapCaptioner(
        AuroraCapSettings.from_model_args(
            {"pretrained": str(checkpoint), "num_frm": 3, "token_kept_ratio": ratio, "dtype": "fp32"}
        ),
        CPU,
    )
    results, prepared = cap.prepare_batch(requests)
    assert [r.error for r in results] == [None] * len(requests)
    assert [p.pixel_values.shape[0] for p in prepared] == [3, 2, 1]
    return cap, prepared


def llava_batch(tokenizer, requests, tokens_per_frame: int, conv_template_prompts: list[str]):
    """LLaVA's own inputs: each ``<image>`` widened to the frame's token count, tokenised by the HF
    tokenizer (``<image>`` is a special token there), left padded."""
    image = "<image>"
    rows = [tokenizer(p.replace(image, image * tokens_per_frame)).input_ids for p in conv_template_prompts]
    longest = max(len(r) for r in rows)
    ids = torch.full((len(rows), longest), tokenizer.pad_token_id)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, longest - len(row):] = torch.tensor(row)
        mask[i, longest - len(row):] = 1
    return ids, mask


def upstream_prompts(requests, prepared) -> list[str]:
    """The lmms-eval wrapper's prompt (LLaVA ``conv_vicuna_v1``), written out here rather than built by our code."""
    return [
        VICUNA_V1_SYSTEM + " USER: " + " ".join(["<image>"] * p.pixel_values.shape[0]) + "\n" + r.context + " ASSISTANT:"
        for r, p in zip(requests, prepared, strict=True)
    ]


# --- the reference itself ------------------------------------------------------------------------


def test_reference_tower_equals_transformers_clip_at_ratio_one(faithful_checkpoint):
    llava = LlavaForConditionalGeneration.from_pretrained(faithful_checkpoint, dtype=torch.float64).eval()
    config = llava.config.vision_config
    pixels = torch.randn(2, 3, config.image_size, config.image_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        hidden = llava.model.vision_tower(pixels.double(), output_hidden_states=True).hidden_states
    traces = reference_tower(vision_weights(faithful_checkpoint), config, pixels, 1.0, config.num_hidden_layers)
    assert len(traces[0]) == len(hidden) == config.num_hidden_layers + 1
    for frame, trace in enumerate(traces):
        for block, (tokens, sizes) in enumerate(trace):
            torch.testing.assert_close(tokens, hidden[block][frame], atol=1e-10, rtol=1e-10)
            assert sizes.tolist() == [1.0] * tokens.shape[0]


# --- the vision tower, block by block ---------------------------------------------------------------


@pytest.mark.parametrize("ratio", RATIOS)
def test_tower_matches_reference_block_by_block(faithful_checkpoint, ratio):
    model = AuroraCapModel.from_checkpoint(locate(str(faithful_checkpoint)), torch.float64, CPU)
    vm = model.vision_tower.vision_model
    config = model.vision_tower.config
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [vm.pre_layrnorm.register_forward_hook(lambda m, i, out: seen.append((out, torch.ones_like(out[..., 0]))))]
    for layer in vm.encoder.layers:
        hooks.append(layer.register_forward_hook(lambda m, i, out: seen.append((out[0], out[1][..., 0]))))
    pixels = torch.randn(3, 3, config.image_size, config.image_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        features = model.vision_tower(pixels.double(), ratio)
    for hook in hooks:
        hook.remove()
    blocks = config.num_hidden_layers - 1  # features are the output of the second-to-last block
    traces = reference_tower(vision_weights(faithful_checkpoint), config, pixels, ratio, blocks)
    assert len(seen) == blocks + 1, "blocks run (pre-LayerNorm + every block up to the feature layer)"
    r = int(36 * (1 - ratio) / config.num_hidden_layers)
    for block, (tokens, sizes) in enumerate(seen):
        assert tokens.shape[1] == 37 - block * r, f"block {block}: token count"
        for frame, trace in enumerate(traces):
            ref_tokens, ref_sizes = trace[block]
            assert sizes[frame].tolist() == ref_sizes.tolist(), f"block {block} frame {frame}: token sizes"
            torch.testing.assert_close(tokens[frame], ref_tokens, atol=1e-9, rtol=1e-9,
                                       msg=f"block {block} frame {frame}: tokens")
    torch.testing.assert_close(features, torch.stack([t[-1][0][1:] for t in traces]), atol=1e-9, rtol=1e-9)
    if ratio < 1.0:  # the merges really happened, several sources per destination included
        assert r > 0 and max(float(s.max()) for _, s in seen) >= 3


# --- the whole model against transformers' LLaVA, ragged left-padded batch ----------------------------


@pytest.mark.parametrize("ratio", RATIOS)
def test_ragged_batch_logits_match_llava(faithful_checkpoint, faithful_requests, ratio):
    """float64: every real position's logits, batched and left padded, equal LLaVA's batched and single."""
    cap, prepared = prepared_batch(faithful_checkpoint, faithful_requests, ratio)
    model = AuroraCapModel.from_checkpoint(locate(str(faithful_checkpoint)), torch.float64, CPU)
    llava = load_llava(faithful_checkpoint, torch.float64, ratio)
    tokenizer = AutoTokenizer.from_pretrained(faithful_checkpoint)
    with torch.inference_mode():
        frames = [list(model.encode_frames(p.pixel_values, ratio)) for p in prepared]
        per_frame = {f.shape[0] for frames_i in frames for f in frames_i}
        assert len(per_frame) == 1
        embeds, mask = model.embed_inputs([p.input_ids for p in prepared], frames)
        ours = model.language_model(inputs_embeds=embeds, attention_mask=mask).logits
        ids, ref_mask = llava_batch(tokenizer, faithful_requests, per_frame.pop(), upstream_prompts(faithful_requests, prepared))
        assert mask.tolist() == ref_mask.tolist(), "same left padding"
        pixels = torch.cat([p.pixel_values for p in prepared]).double()
        ref = llava(input_ids=ids, attention_mask=ref_mask, pixel_values=pixels).logits
        real = mask.bool()
        torch.testing.assert_close(ours[real], ref[real], atol=1e-8, rtol=1e-8)
        start = 0
        for row, item in enumerate(prepared):
            n = item.pixel_values.shape[0]
            single_ids = ids[row : row + 1, ~ref_mask[row].eq(0)]
            single = llava(input_ids=single_ids, pixel_values=pixels[start : start + n]).logits[0]
            # unpadded positions differ, and RoPE tables are float32: agreement to ~1e-6, not 1e-8
            torch.testing.assert_close(ours[row, real[row]], single, atol=1e-5, rtol=1e-5)
            start += n


@pytest.mark.parametrize("ratio", RATIOS)
def test_ragged_batch_greedy_captions_match_llava(faithful_checkpoint, faithful_requests, ratio):
    """float32, through the captioner (splicing, left padding, generate, EOS handling) vs LLaVA.generate."""
    cap, prepared = prepared_batch(faithful_checkpoint, faithful_requests, ratio)
    ours = cap.caption_batch(faithful_requests, GenerationSettings(max_new_tokens=8))
    llava = load_llava(faithful_checkpoint, torch.float32, ratio)
    tokens_per_frame = ours[0].stats["visual_tokens_per_frame"][0]
    ids, mask = llava_batch(cap.tokenizer, faithful_requests, tokens_per_frame, upstream_prompts(faithful_requests, prepared))
    pixels = torch.cat([p.pixel_values for p in prepared])
    with torch.inference_mode():
        generated = llava.generate(input_ids=ids, attention_mask=mask, pixel_values=pixels, max_new_tokens=8,
                                   do_sample=False)[:, ids.shape[1]:]
    eos = cap.tokenizer.eos_token_id
    for row, out in enumerate(ours):
        tokens = generated[row].tolist()
        tokens = tokens[: tokens.index(eos) + 1] if eos in tokens else tokens
        assert out.error is None
        assert out.output_tokens == len(tokens), f"row {row}"
        assert out.text == cap.tokenizer.decode(tokens, skip_special_tokens=True), f"row {row}"
        assert out.stats["visual_tokens_per_frame"] == [tokens_per_frame] * prepared[row].pixel_values.shape[0]
