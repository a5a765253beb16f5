"""The video processor a tiny LLaVA-OneVision test checkpoint ships as its own code (``trust_remote_code``).

transformers' own video processors need torchvision, which has no CPU build on the package
registries this suite installs from, so the tiny checkpoint that ``tiny_llava_onevision`` builds
carries this one instead: it decodes each video with PyAV, takes ``num_frames`` evenly spaced frames,
resizes and normalises them the way a SigLIP tower expects, and expands each ``<video>`` placeholder
to the number of video tokens LLaVA-OneVision's model inserts (pooled patches per frame, plus one
newline). Its settings are read from ``tiny_video_processor.json`` beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, BatchFeature, ProcessorMixin

SETTINGS = "tiny_video_processor.json"


class TinyVideoProcessor(ProcessorMixin):
    def __init__(self, tokenizer, settings: dict) -> None:
        super().__init__(tokenizer, chat_template=settings["chat_template"])
        self.settings = settings

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        settings = json.loads((Path(path) / SETTINGS).read_text())
        return cls(AutoTokenizer.from_pretrained(path), settings)

    def frames(self, path: str) -> np.ndarray:
        """(num_frames, 3, size, size) float32 in [-1, 1]; evenly spaced over the whole clip."""
        with av.open(path) as container:
            decoded = [f.to_image() for f in container.decode(video=0)]
        if not decoded:
            raise ValueError(f"{path}: no video frames")
        n, size = self.settings["num_frames"], self.settings["size"]
        picks = np.linspace(0, len(decoded) - 1, n).round().astype(int)
        arrays = [np.asarray(decoded[i].convert("RGB").resize((size, size), Image.BICUBIC), np.float32) for i in picks]
        return ((np.stack(arrays) / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2)

    def __call__(self, images=None, videos=None, text=None, return_tensors="pt", **kwargs) -> BatchFeature:
        if images:
            raise ValueError("this tiny checkpoint takes videos only")
        texts = [text] if isinstance(text, str) else list(text)
        data = {}
        if videos:
            clips = [self.frames(str(v)) for v in videos]
            data["pixel_values_videos"] = torch.from_numpy(np.stack(clips))
            per_video = self.settings["num_frames"] * self.settings["tokens_per_frame"] + 1
            texts = [t.replace("<video>", "<video>" * per_video) for t in texts]
        data.update(self.tokenizer(texts, return_tensors=return_tensors, padding=True))
        return BatchFeature(data=data)
