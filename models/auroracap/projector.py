"""AuroraCap's projector: token-wise Linear -> GELU (erf) -> Linear (as upstream AuroraCap).

Kept as ``model = Sequential(Linear, GELU, Linear)`` so the state-dict keys are xtuner's
``model.0.*`` / ``model.2.*`` and ``projector/model.safetensors`` loads without remote code.
"""

from __future__ import annotations

import torch
from torch import nn


class AuroraProjector(nn.Module):
    def __init__(self, visual_hidden_size: int, llm_hidden_size: int) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(visual_hidden_size, llm_hidden_size),
            nn.GELU(),
            nn.Linear(llm_hidden_size, llm_hidden_size),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(..., visual_hidden) -> (..., llm_hidden)."""
        return self.model(features)
