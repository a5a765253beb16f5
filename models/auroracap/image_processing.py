"""CLIP preprocessing of frames, built from parameters, never from the Hub (AuroraCap's parameters).

shortest edge -> 378 (PIL bicubic), centre crop 378x378, x/255, CLIP mean/std. The values equal AuroraCap's
``visual_encoder/preprocessor_config.json``; a checkpoint's own file overrides them when present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

try:  # transformers >= 5: the PIL backend, which is what upstream's CLIPImageProcessor (transformers 4.x) was
    from transformers import CLIPImageProcessorPil as ClipProcessor
except ImportError:  # transformers 4.x
    from transformers import CLIPImageProcessor as ClipProcessor

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class PreprocessConfig:
    shortest_edge: int = 378
    crop_size: int = 378
    resample: int = 3  # PIL bicubic
    image_mean: tuple[float, ...] = field(default=CLIP_MEAN)
    image_std: tuple[float, ...] = field(default=CLIP_STD)

    @classmethod
    def from_json(cls, path: Path, image_size: int) -> PreprocessConfig:
        """Read a ``preprocessor_config.json`` if it exists, else the defaults at ``image_size``."""
        if not path.is_file():
            return cls(shortest_edge=image_size, crop_size=image_size)
        raw = json.loads(path.read_text())
        size = raw.get("size", image_size)
        crop = raw.get("crop_size", image_size)
        return cls(
            shortest_edge=size.get("shortest_edge", image_size) if isinstance(size, dict) else int(size),
            crop_size=crop.get("height", image_size) if isinstance(crop, dict) else int(crop),
            resample=int(raw.get("resample", 3)),
            image_mean=tuple(raw.get("image_mean", CLIP_MEAN)),
            image_std=tuple(raw.get("image_std", CLIP_STD)),
        )


class FramePreprocessor:
    def __init__(self, config: PreprocessConfig) -> None:
        self.config = config
        self._processor = ClipProcessor(
            do_resize=True,
            size={"shortest_edge": config.shortest_edge},
            resample=config.resample,
            do_center_crop=True,
            crop_size={"height": config.crop_size, "width": config.crop_size},
            do_rescale=True,
            rescale_factor=1 / 255,
            do_normalize=True,
            image_mean=list(config.image_mean),
            image_std=list(config.image_std),
            do_convert_rgb=True,
        )

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        """(F, H, W, 3) uint8 RGB -> (F, 3, crop, crop) float32."""
        return self._processor(list(frames), return_tensors="pt")["pixel_values"]
