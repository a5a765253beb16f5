"""Physical floors for AuroraCap-7B captioning (pure arithmetic, no torch).

Decode is memory-bandwidth bound: every step reads all LLM weights once plus the KV cache of
every sequence in the batch. Prefill and the ViT are compute bound. Constants are the
cards' datasheet values; measured ceilings (matmul TFLOP/s, copy TB/s) can be
passed in so the floor is the one of the card that ran.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LlmShape:
    params: float = 6.7384e9  # Llama-2-7B as instantiated, input embedding and LM head included
    layers: int = 32
    hidden: int = 4096
    kv_heads: int = 32
    head_dim: int = 128
    vocab: int = 32000
    bytes_per_param: int = 2  # fp16 / bf16

    @property
    def weight_bytes(self) -> float:
        """What a decode step reads of the weights: all but the input embedding table (one row of it)."""
        return (self.params - self.vocab * self.hidden) * self.bytes_per_param

    @property
    def matmul_params(self) -> float:
        """Weights a prefill multiplies every position by: neither embedding lookup nor LM head (which
        only the last position needs)."""
        return self.params - 2 * self.vocab * self.hidden

    @property
    def kv_bytes_per_token(self) -> float:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param


@dataclass(frozen=True)
class Card:
    name: str
    bandwidth: float  # bytes/s, achievable (measured copy rate, read + write counted)
    flops: float  # FLOP/s, achievable dense fp16/bf16

    @classmethod
    def h100(cls) -> Card:
        return cls("H100 SXM (datasheet)", 3.35e12, 989e12)

    @classmethod
    def datasheet(cls, device_name: str) -> Card | None:
        """Vendor figures for a measured card's name (the issue's targets quote the H100 datasheet)."""
        if "H200" in device_name:
            return cls("H200 (datasheet)", 4.8e12, 989e12)
        if "H100" in device_name:
            return cls.h100()
        return None


def vit_flops(tokens_per_frame_by_block: list[int], width: int = 1280, mlp: int = 5120) -> float:
    """FLOPs of one frame through the ViT given the tokens entering each block's attention.

    Per block: QKV+out projections 8·w²·n, attention 4·n²·w, MLP 4·w·mlp·n' where n' = n − r is the
    token count after the merge that sits between attention and MLP.
    """
    total = 0.0
    for i, n in enumerate(tokens_per_frame_by_block):
        n_after = tokens_per_frame_by_block[i + 1] if i + 1 < len(tokens_per_frame_by_block) else n
        total += 8 * width * width * n + 4 * n * n * width + 4 * width * mlp * n_after
    return total


def prefill_seconds(ctx: int, card: Card, llm: LlmShape = LlmShape()) -> float:
    """Compute floor of a prefill over ``ctx`` tokens (dense matmuls + causal attention + the last logits)."""
    flops = 2 * llm.matmul_params * ctx + 2 * ctx * ctx * llm.hidden * llm.layers + 2 * llm.vocab * llm.hidden
    return flops / card.flops


def decode_step_seconds(contexts: list[int], card: Card, llm: LlmShape = LlmShape()) -> float:
    """Bandwidth floor of one decode step for a batch with the given per-sequence context lengths."""
    return (llm.weight_bytes + llm.kv_bytes_per_token * sum(contexts)) / card.bandwidth


def caption_seconds(prompt_ctx: int, new_tokens: int, card: Card, batch: int = 1, llm: LlmShape = LlmShape(),
                    vision_flops: float = 0.0) -> float:
    """Floor for ``batch`` captions of ``new_tokens`` each after a ``prompt_ctx``-token prompt, each caption's
    ViT (``vision_flops``, from ``vit_flops`` times the frames) included."""
    decode = sum(decode_step_seconds([prompt_ctx + i] * batch, card, llm) for i in range(new_tokens))
    return batch * (prefill_seconds(prompt_ctx, card, llm) + vision_flops / card.flops) + decode
