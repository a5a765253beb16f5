"""CLIP vision tower with AuroraCap's Token Merging in every block.

Module names mirror transformers' ``CLIPVisionModel`` as saved by transformers 4.x (the xtuner
``visual_encoder/`` files), so its ``state_dict`` keys are the standard ``vision_model.*`` ones.
Embeddings and MLP reuse transformers' CLIP modules; the layer forward is our own because ToMe needs
the attention keys and sits between attention and MLP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import CLIPVisionConfig
from transformers.models.clip.modeling_clip import CLIPMLP, CLIPVisionEmbeddings

from vdc_bench.models.auroracap.merge_schedule import merge_r
from vdc_bench.models.auroracap.tome import merge_step

ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
_VISION_SDPA = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


class ToMeCLIPAttention(nn.Module):
    """Multi-head self-attention that also returns the head-averaged keys (ToMe's matching metric)."""

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scale = self.head_dim**-0.5
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self, x: torch.Tensor, key_bias: torch.Tensor | None, attn_implementation: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, t, C); key_bias: (B, 1, 1, t) added to every logit row, or None.

        Returns (attention output (B, t, C), keys averaged over heads (B, t, head_dim)).
        """
        batch, t, _ = x.shape
        shape = (batch, t, self.num_heads, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        if attn_implementation == "sdpa":
            # Not cuDNN: it builds a graph for each new shape (ToMe gives every block its own), ~1.3 s of
            # every process's first video on an H100; per call the two were within ~1 ms (16 frames).
            with sdpa_kernel(_VISION_SDPA):
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias, scale=self.scale)
        else:
            logits = (q @ k.transpose(-1, -2)) * self.scale
            if key_bias is not None:
                logits = logits + key_bias
            out = logits.softmax(dim=-1, dtype=torch.float32).to(q.dtype) @ v
        out = self.out_proj(out.transpose(1, 2).reshape(batch, t, -1))
        return out, k.mean(dim=1)


class ToMeCLIPEncoderLayer(nn.Module):
    """Pre-LN CLIP block with a ToMe merge between attention and MLP (the MLP runs on t - r tokens)."""

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.self_attn = ToMeCLIPAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CLIPMLP(config)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        size: torch.Tensor,
        r: int,
        proportional_attention: bool,
        attn_implementation: str,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # AuroraCap's own size bias is added per query row, which softmax cancels; only the original
        # ToMe key-wise log-size bias changes anything, so it is the opt-in variant.
        key_bias = size.log().transpose(1, 2).unsqueeze(1).to(x.dtype) if proportional_attention else None
        attn_out, metric = self.self_attn(self.layer_norm1(x), key_bias, attn_implementation)
        x = x + attn_out
        x, size = merge_step(x, size, metric, r, protect_cls=True)
        x = x + self.mlp(self.layer_norm2(x))
        return x, size


class ToMeCLIPEncoder(nn.Module):
    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ToMeCLIPEncoderLayer(config) for _ in range(config.num_hidden_layers))


class ToMeCLIPVisionTransformer(nn.Module):
    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = ToMeCLIPEncoder(config)
        # Unused by AuroraCap (features come from an inner block) but part of the checkpoint.
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


class AuroraVisionTower(nn.Module):
    """``vision_model.*`` CLIP ViT whose ``forward`` returns AuroraCap's visual features.

    ``feature_layer`` follows the LLaVA convention: -2 = output of the second-to-last block.
    """

    def __init__(
        self,
        config: CLIPVisionConfig,
        feature_layer: int = -2,
        attn_implementation: str = "sdpa",
        proportional_attention: bool = False,
    ) -> None:
        super().__init__()
        if attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got {attn_implementation!r}")
        self.config = config
        self.vision_model = ToMeCLIPVisionTransformer(config)
        # hidden_states[feature_layer] of (embeddings, block 1 .. block L): number of blocks to run.
        self.num_blocks = config.num_hidden_layers + 1 + feature_layer if feature_layer < 0 else feature_layer
        self.attn_implementation = attn_implementation
        self.proportional_attention = proportional_attention

    def merge_r(self, height: int, width: int, token_kept_ratio: float) -> int:
        """Per-block r; uses all L blocks as AuroraCap does, although only ``num_blocks`` of them feed features."""
        return merge_r(height, width, self.config.patch_size, self.config.num_hidden_layers, token_kept_ratio)

    def forward(self, pixel_values: torch.Tensor, token_kept_ratio: float) -> torch.Tensor:
        """(N, 3, H, W) frames -> (N, N_f, C) patch features (CLS dropped, ToMe token order).

        The ratio is an explicit argument of every call (no state left behind, unlike upstream SlowFast).
        Blocks after the feature layer are skipped: their output is discarded anyway.
        """
        height, width = pixel_values.shape[-2:]
        r = self.merge_r(height, width, token_kept_ratio)
        vm = self.vision_model
        interpolate = height != self.config.image_size or width != self.config.image_size
        x = vm.pre_layrnorm(vm.embeddings(pixel_values, interpolate_pos_encoding=interpolate))
        size = torch.ones_like(x[..., :1])
        for layer in vm.encoder.layers[: self.num_blocks]:
            x, size = layer(x, size, r, self.proportional_attention, self.attn_implementation)
        return x[:, 1:]
