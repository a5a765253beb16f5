"""``auroracap`` follows the upstream lmms-eval wrapper by default; each switch gives the stricter behaviour.

Upstream behaviour tested here (the wrapper ``lmms_eval/models/auroracap.py`` and its video reader):
* ``until`` is popped from the task's gen_kwargs and never applied: captions end at EOS or max_new_tokens;
* ``do_sample`` is ``temperature > 0``, whatever the task's ``do_sample`` says;
* the reader appends the last frame index when linspace missed it, so ``num_frm=1`` gives 2 frames;
* the LLM is loaded with ``from_pretrained``, so its ``generation_config.json`` supplies generate()'s
  defaults (EOS ids, penalties) under the explicit do_sample/temperature/top_p/num_beams/max_new_tokens;
* a context that already holds ``<image>`` is used as is, the i-th ``<image>`` receiving frame i;
* the vision encoder registers ``pos_emb``, a second name for the position embedding.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
from vdc_bench.models.auroracap.checkpoint import CheckpointError, locate
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import VICUNA_V1_SYSTEM, PromptError, build_prompt
from vdc_bench.models.auroracap.settings import (
    AuroraCapSettings,
    GenerationSettings,
    ModelArgError,
    greedy_changes,
)

CPU = torch.device("cpu")


def captioner(path, **args) -> AuroraCapCaptioner:
    return AuroraCapCaptioner(AuroraCapSettings.from_model_args({"pretrained": str(path), **args}), CPU)


@pytest.fixture(scope="module")
def video_20(tmp_path_factory):
    import av
    import numpy as np

    path = tmp_path_factory.mktemp("semantics") / "clip.mp4"
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(20):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_switch_values_are_validated():
    settings = AuroraCapSettings.from_model_args({"pretrained": "x"})
    assert (settings.stop_strings, settings.sample_rule, settings.frame_sampling, settings.image_placement,
            settings.generation_config) == ("ignore", "temperature", "upstream", "upstream", True)
    with pytest.raises(ModelArgError, match="stop_strings"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "stop_strings": "sometimes"})
    with pytest.raises(ModelArgError, match="image_placement"):
        AuroraCapSettings.from_model_args({"pretrained": "x", "image_placement": "anywhere"})


def test_sampling_follows_temperature_as_upstream():
    upstream = AuroraCapSettings.from_model_args({"pretrained": "x"})
    strict = AuroraCapSettings.from_model_args({"pretrained": "x", "sample_rule": "do_sample"})
    vdc_task = {"until": [], "max_new_tokens": 1024, "do_sample": False, "temperature": 0.5}  # --gen_kwargs temperature=0.5
    assert upstream.with_semantics(GenerationSettings.from_gen_kwargs(vdc_task)).sampling
    assert not strict.with_semantics(GenerationSettings.from_gen_kwargs(vdc_task)).sampling
    forced = {"do_sample": True, "temperature": 0}
    assert not upstream.with_semantics(GenerationSettings.from_gen_kwargs(forced)).sampling
    assert strict.with_semantics(GenerationSettings.from_gen_kwargs(forced)).sampling
    kwargs = upstream.with_semantics(GenerationSettings.from_gen_kwargs(vdc_task)).generate_kwargs()
    assert kwargs["do_sample"] is True and kwargs["temperature"] == 0.5


def test_stop_strings_ignored_as_upstream(model_tiny_checkpoints, video_20):
    request = [CaptionRequest("Describe.", [video_20])]
    upstream = captioner(model_tiny_checkpoints["xtuner"], num_frm=3)
    full = upstream.caption_batch(request, GenerationSettings(max_new_tokens=12))[0]
    stop = full.text[3:5]
    assert stop and full.text.find(stop) > 0
    ignored = upstream.caption_batch(request, GenerationSettings(max_new_tokens=12, until=(stop,)))[0]
    assert ignored.text == full.text and ignored.output_tokens == full.output_tokens
    strict = captioner(model_tiny_checkpoints["xtuner"], num_frm=3, stop_strings="apply")
    cut = strict.caption_batch(request, GenerationSettings(max_new_tokens=12, until=(stop,)))[0]
    assert cut.text == full.text[: full.text.find(stop)]


@pytest.mark.parametrize(("frame_sampling", "indices"), [("upstream", [0, 19]), ("exact", [0])])
def test_one_frame_requested(model_tiny_checkpoints, video_20, frame_sampling, indices):
    cap = captioner(model_tiny_checkpoints["xtuner"], num_frm=1, frame_sampling=frame_sampling)
    out = cap.caption_batch([CaptionRequest("Describe.", [video_20])], GenerationSettings(max_new_tokens=2))[0]
    assert out.error is None and out.stats["frame_indices"] == indices and out.stats["frames"] == len(indices)
    # more than one frame requested: linspace already ends on the last frame, both rules agree
    many = captioner(model_tiny_checkpoints["xtuner"], num_frm=3, frame_sampling=frame_sampling)
    out = many.caption_batch([CaptionRequest("Describe.", [video_20])], GenerationSettings(max_new_tokens=2))[0]
    assert out.stats["frame_indices"] == [0, 9, 19]


def test_image_placement(model_tiny_checkpoints, video_20):
    context = "<image>\nDescribe this."
    assert build_prompt(context, [4], "vicuna_v1") == VICUNA_V1_SYSTEM + " USER: <image>\nDescribe this. ASSISTANT:"
    assert build_prompt(context, [4], "vicuna_v1", "per_visual") == (
        VICUNA_V1_SYSTEM + " USER: <image> <image> <image> <image>\nDescribe this. ASSISTANT:")
    with pytest.raises(PromptError, match="3 <image> placeholders for 2 frames"):
        build_prompt("<image> <image> <image>", [2], "plain")
    request = [CaptionRequest(context, [video_20])]
    upstream = captioner(model_tiny_checkpoints["xtuner"], num_frm=4).caption_batch(request, GenerationSettings(max_new_tokens=2))[0]
    assert upstream.error is None
    assert upstream.stats["frames"] == 1 and upstream.stats["frame_indices"] == [0]  # only the first frame is spliced
    per_visual = captioner(model_tiny_checkpoints["xtuner"], num_frm=4, image_placement="per_visual").caption_batch(
        request, GenerationSettings(max_new_tokens=2))[0]
    assert per_visual.stats["frames"] == 4
    too_many = captioner(model_tiny_checkpoints["xtuner"], num_frm=2).caption_batch(
        [CaptionRequest("<image> <image> <image> go", [video_20])], GenerationSettings(max_new_tokens=2))[0]
    assert too_many.text == "" and "placeholders for 2 frames" in too_many.error


def _with_generation_config(src, dst, config: dict):
    shutil.copytree(src, dst)
    (dst / "generation_config.json").write_text(json.dumps(config))
    return dst


def test_generation_config_is_honoured(model_tiny_checkpoints, video_20, tmp_path):
    request = [CaptionRequest("Describe.", [video_20])]
    greedy = GenerationSettings(max_new_tokens=10)
    plain = captioner(model_tiny_checkpoints["xtuner"], num_frm=2)
    base = plain.caption_batch(request, greedy)[0]
    assert base.output_tokens == 10
    # Vicuna's shipped config asks for sampling; upstream's explicit do_sample=False (temperature 0) wins.
    vicuna = _with_generation_config(model_tiny_checkpoints["xtuner"], tmp_path / "vicuna", {
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "do_sample": True, "temperature": 0.9, "top_p": 0.6,
        "max_length": 4096})
    assert captioner(vicuna, num_frm=2).caption_batch(request, greedy)[0].text == base.text
    # An extra EOS id in the config ends the caption at that token, as generate() does upstream.
    generated = plain.tokenizer(base.text, add_special_tokens=False).input_ids
    stop_token = generated[3]
    eos = _with_generation_config(model_tiny_checkpoints["xtuner"], tmp_path / "eos", {
        "bos_token_id": 1, "eos_token_id": [2, stop_token], "pad_token_id": 0})
    ended = captioner(eos, num_frm=2).caption_batch(request, greedy)[0]
    assert ended.output_tokens < base.output_tokens and not ended.stats["truncated"]
    assert captioner(eos, num_frm=2, generation_config=False).caption_batch(request, greedy)[0].text == base.text
    # A penalty changes greedy tokens, so the static decoder must step aside for it.
    penalty = _with_generation_config(model_tiny_checkpoints["xtuner"], tmp_path / "penalty", {
        "bos_token_id": 1, "eos_token_id": 2, "repetition_penalty": 5.0})
    cap = captioner(penalty, num_frm=2, decode="static")
    assert cap.greedy_changes == ["repetition_penalty"]
    assert greedy_changes(locate(str(vicuna)).generation_config()) == []


def test_broken_generation_config_is_named(model_tiny_checkpoints, tmp_path):
    dst = tmp_path / "broken"
    shutil.copytree(model_tiny_checkpoints["xtuner"], dst)
    (dst / "generation_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="generation_config.json"):
        locate(str(dst)).generation_config()


def test_pos_emb_key_accepted_when_equal(model_tiny_checkpoints, tmp_path):
    src = model_tiny_checkpoints["xtuner"]
    reference = AuroraCapModel.from_checkpoint(locate(str(src)), torch.float32, CPU)
    position = reference.vision_tower.vision_model.embeddings.position_embedding.weight

    def variant(name: str, edit) -> AuroraCapModel:
        dst = tmp_path / name
        shutil.copytree(src, dst)
        path = dst / "visual_encoder" / "model.safetensors"
        state = load_file(path)
        edit(state)
        save_file(state, path)
        return AuroraCapModel.from_checkpoint(locate(str(dst)), torch.float32, CPU)

    key = next(k for k in load_file(src / "visual_encoder" / "model.safetensors") if k.endswith("position_embedding.weight"))
    both = variant("both", lambda s: s.update(pos_emb=s[key].clone()))
    torch.testing.assert_close(both.vision_tower.vision_model.embeddings.position_embedding.weight, position)
    only = variant("only", lambda s: s.update(pos_emb=s.pop(key)))
    torch.testing.assert_close(only.vision_tower.vision_model.embeddings.position_embedding.weight, position)
    with pytest.raises(CheckpointError, match="'pos_emb' differs from the position embedding"):
        variant("different", lambda s: s.update(pos_emb=s[key] + 1))
