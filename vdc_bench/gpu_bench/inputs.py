"""The benchmark's model and inputs, rebuilt identically in every process (the baselines run in their own)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import CLIPVisionConfig, LlamaConfig

from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import IMAGE_TOKEN_INDEX
from vdc_bench.models.auroracap.random_checkpoint import SIZES, random_state_dicts


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def card_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def build_model(device: torch.device, dtype: torch.dtype, size: str = "7b-shape", seed: int = 0) -> AuroraCapModel:
    shape = SIZES[size]
    states = random_state_dicts(shape, seed, device)
    return AuroraCapModel.from_state_dicts(
        CLIPVisionConfig(**shape.vision), LlamaConfig(**shape.text), states, dtype, device, source="random 7b-shape"
    )


@dataclass
class Inputs:
    frames: int
    ratio: float
    pixels: torch.Tensor  # (frames, 3, H, W) on the device
    ids: list[int]  # prompt token ids with IMAGE_TOKEN_INDEX sentinels


def _prompt_ids(frames: int, text_tokens: int, vocab: int, generator: torch.Generator) -> list[int]:
    """BOS + text + one sentinel per frame (space-separated) + text, like the vicuna_v1 prompt."""
    def words(n: int) -> list[int]:
        return torch.randint(100, vocab - 2, (n,), generator=generator).tolist()

    ids = [1] + words(text_tokens)
    for i in range(frames):
        ids += [IMAGE_TOKEN_INDEX] + (words(1) if i < frames - 1 else [])
    return ids + words(text_tokens)


def make_inputs(model: AuroraCapModel, frames: int, ratio: float, text_tokens: int) -> Inputs:
    """Random frames and prompt for one configuration, seeded by it (the same in every process)."""
    generator = torch.Generator().manual_seed(frames * 1000 + round(ratio * 1000))
    side = model.vision_tower.config.image_size
    pixels = torch.randn(frames, 3, side, side, generator=generator).to(model.device, model.dtype)
    return Inputs(frames, ratio, pixels, _prompt_ids(frames, text_tokens, model.language_model.config.vocab_size,
                                                     generator))
