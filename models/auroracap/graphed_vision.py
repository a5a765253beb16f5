"""The frame encoder (ViT + ToMe + projector) replayed from CUDA graphs.

Eagerly, each of the 32 blocks launches a few dozen kernels (norms, projections, attention, the ToMe
matching and the Triton merge), and at 16 frames the small ones leave the GPU waiting on the host. A
captured graph replays those launches back to back with the very same kernels, so its features are
bit-identical to the eager encoder's. Frames are encoded in fixed-size chunks, one
graph per (ratio, chunk size, resolution), the last chunk zero-padded: ToMe merges within a frame,
so padding frames change nothing for the real ones.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from vdc_bench.models.auroracap.cuda_graph import capture
from vdc_bench.models.auroracap.modeling import AuroraCapModel


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: torch.Tensor  # (chunk, 3, H, W), written before each replay
    outputs: torch.Tensor  # (chunk, N_f, llm_hidden), overwritten by each replay


class GraphedFrameEncoder:
    """Drop-in for ``model.encode_frames`` on CUDA: (N, 3, H, W) -> (N, N_f, llm_hidden)."""

    def __init__(self, model: AuroraCapModel, max_chunk: int = 32, max_graphs: int = 4) -> None:
        if model.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.model = model
        self.max_chunk = max_chunk
        self.max_graphs = max_graphs
        self._graphs: OrderedDict[tuple, _Captured] = OrderedDict()

    def _captured(self, ratio: float, chunk: int, height: int, width: int) -> _Captured:
        key = (ratio, chunk, height, width)
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return self._graphs[key]
        while len(self._graphs) >= self.max_graphs:
            self._graphs.popitem(last=False)  # its memory pool goes with it
        inputs = torch.zeros(chunk, 3, height, width, dtype=self.model.dtype, device=self.model.device)
        graph, outputs = capture(lambda: self.model.encode_frames(inputs, ratio), 2, self.model.device)
        self._graphs[key] = captured = _Captured(graph, inputs, outputs)
        return captured

    @torch.inference_mode()
    def __call__(self, pixel_values: torch.Tensor, token_kept_ratio: float) -> torch.Tensor:
        pixel_values = pixel_values.to(device=self.model.device, dtype=self.model.dtype)
        n = pixel_values.shape[0]
        chunk = min(n, self.max_chunk)
        height, width = pixel_values.shape[-2:]
        captured = self._captured(token_kept_ratio, chunk, height, width)
        pieces = []
        for start in range(0, n, chunk):
            part = pixel_values[start : start + chunk]
            captured.inputs[: part.shape[0]].copy_(part)
            captured.inputs[part.shape[0] :].zero_()
            captured.graph.replay()
            pieces.append(captured.outputs[: part.shape[0]].clone())
        return torch.cat(pieces)
