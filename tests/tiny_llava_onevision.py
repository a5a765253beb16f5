"""A tiny random-weight LLaVA-OneVision checkpoint for lmms-eval's ``llava_hf`` chat model (offline).

Real transformers model code (``LlavaOnevisionForConditionalGeneration``: SigLIP tower, projector,
2x2 video pooling, Qwen2 decoder), random weights from a fixed seed, the suite's offline-trained
Llama-style tokenizer, and the checkpoint's own video processor (``tiny_video_processor.py``,
loaded through ``trust_remote_code``). Its captions are noise: it proves the plumbing, not quality.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

NUM_FRAMES = 4
IMAGE_SIZE, PATCH = 32, 8
# Renders the user turn as lmms-eval's chat models build it: a video part, then the prompt text.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>"
    "{% for c in m['content'] %}{% if c['type'] == 'video' %}<video>{% elif c['type'] == 'text' %}{{ c['text'] }}"
    "{% endif %}{% endfor %}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_llava_onevision(out: Path, seed: int = 0) -> Path:
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        Qwen2Config,
        SiglipVisionConfig,
    )

    from vdc_bench.models.auroracap.random_checkpoint import build_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(512)
    tok.add_special_tokens({"pad_token": "<pad>", "additional_special_tokens": ["<image>", "<video>"]})
    image_id, video_id = tok.convert_tokens_to_ids(["<image>", "<video>"])
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                image_size=IMAGE_SIZE, patch_size=PATCH)
    text = Qwen2Config(vocab_size=-(-len(tok) // 64) * 64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096)
    config = LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                                  video_token_index=video_id, vision_feature_layer=-1,
                                  vision_feature_select_strategy="full", image_grid_pinpoints=[[IMAGE_SIZE, IMAGE_SIZE]])
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    # A random head often makes greedy decoding stop at once (</s>) or pick ids with no text; with
    # their rows zeroed (logit 0) the best of the ~500 random text-token logits wins instead.
    with torch.no_grad():
        model.lm_head.weight[len(tok):] = 0
        model.lm_head.weight[tok.all_special_ids] = 0
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    pooled = -(-(IMAGE_SIZE // PATCH) // 2)
    (out / "tiny_video_processor.json").write_text(json.dumps({
        "num_frames": NUM_FRAMES, "size": IMAGE_SIZE, "tokens_per_frame": pooled * pooled, "chat_template": CHAT_TEMPLATE}))
    shutil.copy(Path(__file__).with_name("tiny_video_processor.py"), out / "tiny_video_processor.py")
    (out / "processor_config.json").write_text(json.dumps({
        "processor_class": "TinyVideoProcessor", "auto_map": {"AutoProcessor": "tiny_video_processor.TinyVideoProcessor"}}))
    return out
