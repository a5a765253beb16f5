"""Random-weight AuroraCap checkpoints in the real layouts, for tests, demos and GPU benchmarks.

Real AuroraCap weights cannot be downloaded here. These checkpoints have the exact file layout and
tensor names of the published xtuner checkpoint (or of the converter's LLaVA export) with random
values; their captions are gibberish and must never be scored as AuroraCap results. Each carries a
``RANDOM_WEIGHTS.json`` marker saying so, which the adapter reports.

The tokenizer is a small Llama-style byte-fallback BPE trained offline on Python's own standard-library
sources (no Hub), padded with filler tokens to the model's vocabulary size.
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, PreTrainedTokenizerFast

from vdc_bench.models.auroracap.image_processing import CLIP_MEAN, CLIP_STD
from vdc_bench.models.auroracap.modeling import AuroraCapModel

MARKER = "RANDOM_WEIGHTS.json"
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")
MAX_SHARD_BYTES = 5 * 1024**3
INITS = ("llama", "realistic")


@dataclass
class CheckpointShape:
    vision: dict = field(default_factory=dict)  # CLIPVisionConfig kwargs
    text: dict = field(default_factory=dict)  # LlamaConfig kwargs
    llm_dtype: str = "float32"  # the published LLM files are fp16, ViT and projector fp32


_VIT_H_378 = dict(
    hidden_size=1280, intermediate_size=5120, num_attention_heads=16, num_hidden_layers=32,
    image_size=378, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=512,
)
_VICUNA_7B_16K = dict(
    vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=32, max_position_embeddings=16384, rms_norm_eps=1e-5, hidden_act="silu",
    rope_scaling={"rope_type": "linear", "factor": 4.0}, tie_word_embeddings=False,
)  # RoPE scaling x4 is the base model's; unverified in the AuroraCap config (spec §1).
_TINY_TEXT = dict(
    vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=4, max_position_embeddings=16384, rms_norm_eps=1e-5, hidden_act="silu",
    tie_word_embeddings=False,
)
_TINY_VISION = dict(
    hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=4,
    image_size=56, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=32,
)

SIZES = {
    "tiny": CheckpointShape(vision=_TINY_VISION, text=_TINY_TEXT),
    # tiny widths, real 378 px / patch 14 / 32-block geometry: real ToMe token counts, fast on CPU
    "tiny-geometry": CheckpointShape(
        vision=dict(_TINY_VISION, image_size=378, num_hidden_layers=32), text=_TINY_TEXT
    ),
    # 84 px: 36 patches, so ToMe merges 5-8 tokens per block at ratios 0.4-0.1 (equivalence tests)
    "tiny-tome": CheckpointShape(
        vision=dict(_TINY_VISION, hidden_size=48, intermediate_size=96, image_size=84), text=_TINY_TEXT
    ),
    "7b-shape": CheckpointShape(vision=_VIT_H_378, text=_VICUNA_7B_16K, llm_dtype="float16"),
}


def build_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A Llama-like tokenizer (``▁`` word prefix, byte fallback, BOS prepended) of exactly ``vocab_size`` ids."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[*SPECIAL_TOKENS, *byte_tokens], show_progress=False
    )
    tok.train([str(p) for p in _corpus_files()], trainer)
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for filler in range(vocab_size - len(vocab)):  # small corpora stop early; fillers are decodable but unused
        vocab[f"▁<filler{filler}>"] = len(vocab)
    tok = Tokenizer.from_str(json.dumps(data))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _corpus_files() -> list[Path]:
    """English-heavy stdlib sources, present wherever Python is (a different Python may give other merges)."""
    return [Path(argparse.__file__), Path(textwrap.__file__), Path(json.__file__).parent / "decoder.py"]


def random_state_dicts(
    shape: CheckpointShape, seed: int, device: torch.device | str = "cpu", init: str = "llama"
) -> dict[str, dict[str, torch.Tensor]]:
    """Per component (llm, vision, projector): tensors with the real names and shapes.

    ``init="llama"``: norm weights 1, biases 0, everything else N(0, 0.02^2) (Llama's init scale).
    ``init="realistic"`` (for equivalence tests): every tensor is informative, so a dropped bias, a
    swapped norm or a wrong attention scale changes the output. Matrices are N(0, 1/fan_in) (activations
    stay O(1) and attention is far from uniform even at tiny widths), embeddings N(0, 1), biases
    N(0, 0.2^2), norm weights 1 + N(0, 0.2^2). Both draw from one seeded generator in a fixed key
    order, so (seed, device, init) determines the weights.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    with torch.device("meta"):
        model = AuroraCapModel(CLIPVisionConfig(**shape.vision), LlamaConfig(**shape.text))
    generator = torch.Generator(device=device).manual_seed(seed)
    dtypes = {"llm": getattr(torch, shape.llm_dtype), "vision": torch.float32, "projector": torch.float32}
    out = {}
    for part, module in (("llm", model.language_model), ("vision", model.vision_tower), ("projector", model.projector)):
        state = {}
        for name, meta in module.state_dict().items():
            tensor = _random_tensor(name, meta.shape, generator, device, init)
            state[name] = tensor.to(dtypes[part]).contiguous()
        out[part] = state
    return out


def _random_tensor(name: str, shape: torch.Size, generator: torch.Generator, device, init: str) -> torch.Tensor:
    """One tensor of ``random_state_dicts``; ``llama`` draws only for matrices (the demo's weights stay as they were)."""
    is_norm_weight = "norm" in name and name.endswith("weight")
    if init == "llama":
        if is_norm_weight or name.endswith("bias"):
            return (torch.ones if is_norm_weight else torch.zeros)(shape, device=device)
        return torch.randn(shape, generator=generator, device=device) * 0.02
    draw = torch.randn(shape, generator=generator, device=device)
    if is_norm_weight:
        return 1 + 0.2 * draw
    if name.endswith("bias"):
        return 0.2 * draw
    if name.endswith(("class_embedding", "position_embedding.weight", "embed_tokens.weight")):
        return draw
    return draw / math.sqrt(draw[0].numel())  # Linear (out, in) and the patch conv (out, c, p, p): 1/fan_in


def save_weights(state: dict[str, torch.Tensor], directory: Path, max_shard_bytes: int = MAX_SHARD_BYTES) -> None:
    """``model.safetensors``, or ``model-0000i-of-0000n.safetensors`` + index when larger than a shard."""
    directory.mkdir(parents=True, exist_ok=True)
    total = sum(t.numel() * t.element_size() for t in state.values())
    if total <= max_shard_bytes:
        save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
        return
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        filename = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(directory / filename), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, filename))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _preprocessor_config(image_size: int) -> dict:
    return {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": image_size},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": image_size, "width": image_size},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD), "do_convert_rgb": True,
    }


def write_xtuner(out: Path, shape: CheckpointShape, states: dict, tokenizer: PreTrainedTokenizerFast) -> None:
    text_config = LlamaConfig(**shape.text, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    text_config.architectures = ["LlamaForCausalLM"]
    text_config.save_pretrained(out)
    _write_json(out / "generation_config.json", {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0})
    tokenizer.save_pretrained(out)
    save_weights(states["llm"], out)
    vision = out / "visual_encoder"
    vision_config = CLIPVisionConfig(**shape.vision)
    vision_config.architectures = ["CLIPVisionModel"]
    vision_config.save_pretrained(vision)
    _write_json(vision / "preprocessor_config.json", _preprocessor_config(vision_config.image_size))
    save_weights(states["vision"], vision)
    projector = out / "projector"
    _write_json(projector / "config.json", {  # xtuner ProjectorConfig fields; the remote-code files are not written
        "architectures": ["ProjectorModel"], "model_type": "projector", "bias": True, "depth": 2,
        "hidden_act": "gelu", "visual_hidden_size": vision_config.hidden_size,
        "llm_hidden_size": text_config.hidden_size, "torch_dtype": "float32",
    })
    save_weights(states["projector"], projector)


def _grow_rows(weight: torch.Tensor, rows: int, generator: torch.Generator) -> torch.Tensor:
    """Append ``rows`` rows drawn from N(mean, 1e-5 * cov) of the existing rows, as the LLaVA converter does."""
    base = weight.float()
    mean = base.mean(dim=0)
    centred = base - mean
    cov = centred.T @ centred / (base.shape[0] - 1)
    chol = torch.linalg.cholesky(1e-5 * cov + 1e-12 * torch.eye(cov.shape[0], device=cov.device))
    noise = torch.randn(rows, base.shape[1], generator=generator, device=base.device)
    return torch.cat([weight, (mean + noise @ chol.T).to(weight.dtype)])


def write_hf(out: Path, shape: CheckpointShape, states: dict, tokenizer: PreTrainedTokenizerFast, seed: int) -> None:
    """The converter's ``LlavaForConditionalGeneration`` export: ``<image>`` and ``<pad>`` added, vocab padded to 64."""
    tokenizer.add_special_tokens({"pad_token": "<pad>", "additional_special_tokens": ["<image>"]})
    image_id, pad_id = tokenizer.convert_tokens_to_ids(["<image>", "<pad>"])
    vocab = math.ceil(len(tokenizer) / 64) * 64
    llm = dict(states["llm"])
    generator = torch.Generator(device=llm["model.embed_tokens.weight"].device).manual_seed(seed + 1)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        llm[name] = _grow_rows(llm[name], vocab - llm[name].shape[0], generator)
    text = dict(shape.text, vocab_size=vocab)
    config = LlavaConfig(
        text_config=LlamaConfig(**text, bos_token_id=1, eos_token_id=2, pad_token_id=pad_id),
        vision_config=CLIPVisionConfig(**shape.vision),
        image_token_index=image_id, projector_hidden_act="gelu", vision_feature_layer=-2,
        vision_feature_select_strategy="default", pad_token_id=pad_id,
    )
    config.architectures = ["LlavaForConditionalGeneration"]
    config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    state = {f"language_model.{k}": v for k, v in llm.items()}
    state.update({f"vision_tower.{k}": v for k, v in states["vision"].items()})
    names = {"model.0.": "multi_modal_projector.linear_1.", "model.2.": "multi_modal_projector.linear_2."}
    state.update({names[k[:8]] + k[8:]: v for k, v in states["projector"].items()})
    save_weights(state, out)


def make_checkpoint(
    out: Path | str, layout: str, size: str, seed: int = 0, device: str = "cpu", init: str = "llama"
) -> Path:
    """Write a random checkpoint; returns its directory. ``init``: see ``random_state_dicts``."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    if layout not in ("xtuner", "hf"):
        raise ValueError(f"layout must be 'xtuner' or 'hf', got {layout!r}")
    out = Path(out)
    shape = SIZES[size]
    states = random_state_dicts(shape, seed, device, init)
    tokenizer = build_tokenizer(shape.text["vocab_size"])
    if layout == "xtuner":
        write_xtuner(out, shape, states, tokenizer)
    else:
        write_hf(out, shape, states, tokenizer, seed)
    _write_json(out / MARKER, {
        "random_weights": True, "layout": layout, "size": size, "seed": seed, "device": device, "init": init,
        "shape": asdict(shape),
        "note": "Random weights in the real AuroraCap layout: outputs are gibberish; never score them as AuroraCap.",
    })
    return out

