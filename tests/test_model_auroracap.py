"""AuroraCap model: parity with transformers' LLaVA, checkpoint layouts, prompts, batching, bad input."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer, LlavaForConditionalGeneration

from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
from vdc_bench.models.auroracap.checkpoint import CheckpointError, locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import (
    IMAGE_TOKEN_INDEX,
    VICUNA_V1_SYSTEM,
    PromptError,
    build_prompt,
    tokenize_with_sentinels,
)
from vdc_bench.models.auroracap.settings import (
    AuroraCapSettings,
    GenerationSettings,
    ModelArgError,
    cut_at_stop_strings,
)

CPU = torch.device("cpu")
GREEDY = GenerationSettings(max_new_tokens=12)


def captioner(path, **args) -> AuroraCapCaptioner:
    return AuroraCapCaptioner(AuroraCapSettings.from_model_args({"pretrained": str(path), **args}), CPU)


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory):
    import av
    import numpy as np

    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 80, 64, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(20):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --- parity with transformers LlavaForConditionalGeneration at ratio 1.0 -----------------------


def test_ratio_one_matches_transformers_llava(model_tiny_checkpoints):
    hf_dir = model_tiny_checkpoints["hf"]
    llava = LlavaForConditionalGeneration.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ours = AuroraCapModel.from_checkpoint(locate(str(hf_dir)), torch.float32, CPU)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    frames = 3
    prompt = build_prompt("Describe the video in detail.", [frames], "vicuna_v1")
    ids = tokenize_with_sentinels(tokenizer, prompt)
    torch.manual_seed(0)
    pixels = torch.randn(frames, 3, 56, 56)
    patches = (56 // 14) ** 2
    image_id = llava.config.image_token_index
    llava_ids = [t for i in ids for t in ([image_id] * patches if i == IMAGE_TOKEN_INDEX else [i])]

    with torch.inference_mode():
        tokens = ours.encode_frames(pixels, 1.0)
        assert tokens.shape[1] == patches
        embeds, mask = ours.embed_inputs([ids], [list(tokens)])
        our_logits = ours.language_model(inputs_embeds=embeds, attention_mask=mask).logits
        input_ids = torch.tensor([llava_ids])
        ref_logits = llava(input_ids=input_ids, pixel_values=pixels, attention_mask=torch.ones_like(input_ids)).logits
        torch.testing.assert_close(our_logits, ref_logits, atol=1e-4, rtol=1e-4)

        our_tokens = ours.language_model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=10,
                                                  do_sample=False, min_new_tokens=10)
        ref_tokens = llava.generate(input_ids=input_ids, pixel_values=pixels, attention_mask=torch.ones_like(input_ids),
                                    max_new_tokens=10, do_sample=False, min_new_tokens=10)[:, input_ids.shape[1]:]
    assert our_tokens.tolist() == ref_tokens.tolist()


# --- checkpoint layouts ---------------------------------------------------------------------------


def test_xtuner_and_hf_layouts_give_identical_outputs(model_tiny_checkpoints, tiny_video):
    request = [CaptionRequest("Describe this video.", [tiny_video])]
    outputs = {}
    for layout, path in model_tiny_checkpoints.items():
        cap = captioner(path, num_frm=4, token_kept_ratio=0.5)
        assert cap.files.layout == layout and cap.random_weights
        outputs[layout] = cap.caption_batch(request, GREEDY)[0]
    assert outputs["xtuner"].error is None
    assert outputs["xtuner"].text == outputs["hf"].text
    assert outputs["xtuner"].output_tokens == outputs["hf"].output_tokens
    assert outputs["xtuner"].stats["visual_tokens_per_frame"] == outputs["hf"].stats["visual_tokens_per_frame"]


def test_hf_layout_with_current_transformers_key_names(model_tiny_checkpoints, tiny_video, tmp_path):
    """``model.language_model.*`` / ``model.vision_tower.*`` (no vision_model) / top-level ``lm_head``."""
    src = model_tiny_checkpoints["hf"]
    dst = tmp_path / "hf_new_keys"
    shutil.copytree(src, dst)
    renames = (("language_model.model.", "model.language_model."), ("language_model.lm_head.", "lm_head."),
               ("vision_tower.vision_model.", "model.vision_tower."),
               ("multi_modal_projector.", "model.multi_modal_projector."))
    state = load_file(dst / "model.safetensors")
    renamed = {}
    for key, value in state.items():
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value
    assert renamed.keys() != state.keys()
    save_file(renamed, dst / "model.safetensors")
    request = [CaptionRequest("Describe this video.", [tiny_video])]
    a = captioner(src, num_frm=3).caption_batch(request, GREEDY)[0]
    b = captioner(dst, num_frm=3).caption_batch(request, GREEDY)[0]
    assert a.text == b.text and a.error is None


def test_sharded_weights_load(model_tiny_checkpoints, tmp_path):
    from vdc_bench.models.auroracap.random_checkpoint import save_weights

    dst = tmp_path / "sharded"
    shutil.copytree(model_tiny_checkpoints["xtuner"], dst)
    state = load_file(dst / "model.safetensors")
    (dst / "model.safetensors").unlink()
    save_weights(state, dst, max_shard_bytes=200_000)
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    model = AuroraCapModel.from_checkpoint(locate(str(dst)), torch.float32, CPU)
    torch.testing.assert_close(model.language_model.lm_head.weight, state["lm_head.weight"])
    # a shard listed in the index but missing: one clear error naming it
    missing = sorted(set(index["weight_map"].values()))[-1]
    (dst / missing).unlink()
    with pytest.raises(CheckpointError, match=missing):
        locate(str(dst))


@pytest.mark.parametrize(
    "remove", ["projector/model.safetensors", "visual_encoder/config.json", "tokenizer.json", "model.safetensors"]
)
def test_partial_checkpoint_names_the_missing_file(model_tiny_checkpoints, tmp_path, remove):
    dst = tmp_path / "partial"
    shutil.copytree(model_tiny_checkpoints["xtuner"], dst)
    (dst / remove).unlink()
    with pytest.raises(CheckpointError, match=remove.split("/")[-1]):
        locate(str(dst))


def test_unusable_checkpoint_paths(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        locate(str(tmp_path / "nope"))
    with pytest.raises(CheckpointError, match="Hub is disabled"):
        locate("wchai/AuroraCap-7B-VID-xtuner")  # tests run with HF_HUB_OFFLINE=1


def test_mismatched_weights_are_rejected(model_tiny_checkpoints, tmp_path):
    dst = tmp_path / "bad"
    shutil.copytree(model_tiny_checkpoints["xtuner"], dst)
    state = load_file(dst / "projector/model.safetensors")
    state["model.0.weight"] = state["model.0.weight"][:, :8].contiguous()
    del state["model.2.bias"]
    save_file(state, dst / "projector/model.safetensors")
    with pytest.raises(CheckpointError, match="projector"):
        AuroraCapModel.from_checkpoint(locate(str(dst)), torch.float32, CPU)


# --- model args -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0, -0.1, 1.01, 2])
def test_ratio_outside_range_is_rejected(ratio):
    with pytest.raises(ModelArgError, match="token_kept_ratio"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "token_kept_ratio": ratio})


def test_unknown_model_arg_is_named():
    with pytest.raises(ModelArgError, match="'resolutoin'"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "resolutoin": 378})


def test_aliases_and_string_values():
    s = AuroraCapSettings.from_model_args(
        {"pretrained": "x", "token_merge_ratio": 0.2, "max_frames_num": 8, "slow_fast": "true", "batch_size": "2"}
    )
    assert (s.token_kept_ratio, s.num_frm, s.slowfast, s.batch_size) == (0.2, 8, True, 2)
    with pytest.raises(ModelArgError, match="given twice"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "token_merge_ratio": 0.2, "token_kept_ratio": 0.3})


def test_generation_settings_from_gen_kwargs():
    g = GenerationSettings.from_gen_kwargs({"until": ["\n\n"], "temperature": 0, "max_new_tokens": "64"})
    assert g.until == ("\n\n",) and not g.sampling and g.max_new_tokens == 64
    assert GenerationSettings.from_gen_kwargs({"until": []}).until == ()
    assert "temperature" not in GenerationSettings.from_gen_kwargs({"temperature": 0.0, "top_p": 0.9}).generate_kwargs()
    sampled = GenerationSettings.from_gen_kwargs({"temperature": 0.7, "top_p": 0.9}).generate_kwargs()
    assert sampled["do_sample"] and sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9
    assert cut_at_stop_strings("a\n\nb. c", ["\n\n", "."]) == ("a", True)
    assert cut_at_stop_strings("a\n\nb", []) == ("a\n\nb", False)


# --- prompts ---------------------------------------------------------------------------------------


def test_vicuna_v1_prompt_string():
    prompt = build_prompt("Describe the video.", [3], "vicuna_v1")
    assert prompt == (VICUNA_V1_SYSTEM + " USER: <image> <image> <image>\nDescribe the video. ASSISTANT:")
    assert build_prompt("Q?", [2], "plain") == "USER: <image> <image>\nQ? ASSISTANT:"
    # per_visual: a context that holds one <image> per visual is expanded in place, not prefixed
    assert (build_prompt("Look: <image> then <image>", [1, 2], "plain", "per_visual")
            == "USER: Look: <image> then <image> <image> ASSISTANT:")
    assert build_prompt("text only", [], "plain") == "USER: text only ASSISTANT:"
    with pytest.raises(PromptError):
        build_prompt("<image> <image>", [4], "plain", "per_visual")


def test_sentinel_tokenisation(model_tiny_checkpoints):
    tokenizer = AutoTokenizer.from_pretrained(model_tiny_checkpoints["xtuner"])
    prompt = build_prompt("Describe.", [4], "vicuna_v1")
    ids = tokenize_with_sentinels(tokenizer, prompt)
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert ids.count(IMAGE_TOKEN_INDEX) == 4
    first = ids.index(IMAGE_TOKEN_INDEX)
    assert ids[:first] == tokenizer(prompt.split("<image>")[0]).input_ids
    assert ids[first + 1:first + 2] == tokenizer(" ", add_special_tokens=False).input_ids[:1]


# --- batching, slowfast, stats -------------------------------------------------------------------


def test_batched_equals_single(model_tiny_checkpoints, tiny_video, tmp_path):
    from PIL import Image

    image = tmp_path / "img.png"
    Image.new("RGB", (70, 50), (10, 200, 30)).save(image)
    cap = captioner(model_tiny_checkpoints["xtuner"], num_frm=4)
    requests = [CaptionRequest("Describe this video.", [tiny_video]),
                CaptionRequest("What is shown in this picture, in many words?", [image]),
                CaptionRequest("Caption.", [tiny_video])]
    batched = cap.caption_batch(requests, GREEDY)
    for request, out in zip(requests, batched, strict=True):
        single = cap.caption_batch([request], GREEDY)[0]
        assert out.text == single.text and out.input_tokens == single.input_tokens
    assert batched[0].stats["batch_size"] == 3
    assert batched[1].stats["frames"] == 1 and batched[0].stats["frames"] == 4


def test_slowfast_first_frame_unmerged(model_tiny_checkpoints, tiny_video):
    out = captioner(model_tiny_checkpoints["xtuner"], num_frm=4, token_kept_ratio=0.3, slowfast=True).caption_batch(
        [CaptionRequest("Describe.", [tiny_video])], GREEDY)[0]
    # tiny geometry: 16 patches, 4 blocks, features after 3: r = int(16 * 0.7 / 4) = 2 -> 16 - 3 * 2 = 10
    assert out.stats["visual_tokens_per_frame"] == [16, 10, 10, 10]


def test_stats_and_stop_strings(model_tiny_checkpoints, tiny_video):
    cap = captioner(model_tiny_checkpoints["xtuner"], num_frm=5, stop_strings="apply")
    out = cap.caption_batch([CaptionRequest("Describe.", [tiny_video])], GenerationSettings(max_new_tokens=6))[0]
    s = out.stats
    assert s["frames"] == 5 and s["frame_indices"] == [0, 4, 9, 14, 19] and s["frame_count_source"] == ["container"]
    assert s["visual_tokens"] == sum(s["visual_tokens_per_frame"]) and s["output_tokens"] == out.output_tokens
    assert s["prompt_tokens"] == out.input_tokens and s["vit_ms"] > 0 and s["ttft_ms"] >= s["vit_ms"]
    assert s["truncated"] is (out.output_tokens == 6)
    full = cap.caption_batch([CaptionRequest("Describe.", [tiny_video])], GenerationSettings(max_new_tokens=12))[0]
    stop = full.text[3:5]
    cut = cap.caption_batch([CaptionRequest("Describe.", [tiny_video])],
                            GenerationSettings(max_new_tokens=12, until=(stop,)))[0]
    assert cut.text == full.text[: full.text.find(stop)]
    assert not cut.stats["truncated"]


def test_bad_visual_fails_only_its_sample(model_tiny_checkpoints, tiny_video, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    outs = captioner(model_tiny_checkpoints["xtuner"], num_frm=3).caption_batch(
        [CaptionRequest("A", [empty]), CaptionRequest("B", [tiny_video]), CaptionRequest("C", [tmp_path / "gone.png"])],
        GREEDY)
    assert outs[0].text == "" and str(empty) in outs[0].error
    assert outs[1].error is None and outs[1].output_tokens
    assert str(tmp_path / "gone.png") in outs[2].error


def test_context_overflow_is_a_sample_error(model_tiny_checkpoints, tiny_video):
    out = captioner(model_tiny_checkpoints["xtuner"], num_frm=2).caption_batch(
        [CaptionRequest("x", [tiny_video])], GenerationSettings(max_new_tokens=20000))[0]
    assert out.text == "" and "exceeds" in out.error and str(tiny_video) in out.error


def test_vdc_bench_error_is_base_of_user_errors():
    assert issubclass(CheckpointError, VdcBenchError) and issubclass(ModelArgError, VdcBenchError)
