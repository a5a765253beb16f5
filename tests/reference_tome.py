"""A second, deliberately naive AuroraCap vision tower: CLIP ViT + Token Merging in plain loops.

Written from the ToMe paper (Bolya et al., ICLR 2023) and AuroraCap's description of its variant, not
from the vectorised module under test: one frame at a time, one head at a time, one token at a time,
in float64, straight from the checkpoint's tensors (transformers' CLIP key names). The equivalence
tests compare the production tower with this one block by block.

AuroraCap's ToMe, as specified:
* r = int((H*W / p^2) * (1 - ratio) / L) tokens merged in every block, capped at (t - 1) // 2;
* the merge sits between attention and MLP; the matching metric is the attention keys averaged
  over heads, compared by cosine similarity;
* alternate split: A = even positions (holds CLS, which never merges), B = odd positions; each A token
  proposes its most similar B token; the r A tokens with the highest similarity merge (stable order
  on ties), the rest stay;
* a merged B token is the size-weighted mean of itself and its sources; sizes add up;
* new order: the A tokens that stayed, in their old order, then all B tokens in their old order;
* no proportional attention (AuroraCap's size bias is constant per query row, so softmax cancels it).
"""

from __future__ import annotations

import math

import torch


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


def merges_per_block(height: int, width: int, patch: int, layers: int, ratio: float) -> int:
    return int((height * width / patch**2) * (1 - ratio) / layers)


def attention(x: torch.Tensor, w: dict, prefix: str, heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head self-attention of one frame's tokens (t, C), one head at a time; also the mean key."""
    t, width = x.shape
    dim = width // heads
    q = x @ w[prefix + "q_proj.weight"].T + w[prefix + "q_proj.bias"]
    k = x @ w[prefix + "k_proj.weight"].T + w[prefix + "k_proj.bias"]
    v = x @ w[prefix + "v_proj.weight"].T + w[prefix + "v_proj.bias"]
    outputs = []
    key_sum = torch.zeros(t, dim, dtype=x.dtype)
    for h in range(heads):
        cols = slice(h * dim, (h + 1) * dim)
        logits = q[:, cols] @ k[:, cols].T / math.sqrt(dim)
        outputs.append(torch.softmax(logits, dim=-1) @ v[:, cols])
        key_sum = key_sum + k[:, cols]
    out = torch.cat(outputs, dim=-1) @ w[prefix + "out_proj.weight"].T + w[prefix + "out_proj.bias"]
    return out, key_sum / heads


def bipartite_merge(
    tokens: list[torch.Tensor], sizes: list[float], keys: torch.Tensor, r: int
) -> tuple[list[torch.Tensor], list[float]]:
    """One ToMe step on one frame's token list (CLS first); returns the new tokens and sizes."""
    t = len(tokens)
    r = min(r, (t - 1) // 2)
    if r <= 0:
        return tokens, sizes
    a_positions = list(range(0, t, 2))
    b_positions = list(range(1, t, 2))
    proposals = []  # (similarity, a position, chosen b position)
    for a in a_positions:
        if a == 0:  # CLS never merges
            proposals.append((-math.inf, a, None))
            continue
        best_b, best_sim = None, -math.inf
        for b in b_positions:
            sim = float(keys[a] @ keys[b] / (keys[a].norm() * keys[b].norm()))
            if sim > best_sim:  # strict: the first B token wins a tie
                best_b, best_sim = b, sim
        proposals.append((best_sim, a, best_b))
    ranked = sorted(proposals, key=lambda p: -p[0])  # Python's sort is stable: lower position first on ties
    sources = ranked[:r]
    staying = sorted(p[1] for p in ranked[r:])
    weighted = {b: tokens[b] * sizes[b] for b in b_positions}
    total = {b: sizes[b] for b in b_positions}
    for _, a, b in sources:
        weighted[b] = weighted[b] + tokens[a] * sizes[a]
        total[b] = total[b] + sizes[a]
    new_tokens = [tokens[a] for a in staying] + [weighted[b] / total[b] for b in b_positions]
    new_sizes = [sizes[a] for a in staying] + [total[b] for b in b_positions]
    return new_tokens, new_sizes


def reference_tower(
    weights: dict[str, torch.Tensor], config, pixels: torch.Tensor, ratio: float, blocks: int
) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Per frame, the (tokens (t, C), sizes (t,)) after pre-LayerNorm and after each of ``blocks`` blocks.

    ``weights``: CLIP vision tensors named ``vision_model.*`` (any dtype; computed in float64).
    """
    w = {k: v.double() for k, v in weights.items()}
    heads, eps, patch = config.num_attention_heads, config.layer_norm_eps, config.patch_size
    height, width = pixels.shape[-2:]
    r = merges_per_block(height, width, patch, config.num_hidden_layers, ratio)
    emb = "vision_model.embeddings."
    per_frame = []
    for frame in pixels.double():
        grid = torch.nn.functional.conv2d(frame[None], w[emb + "patch_embedding.weight"], stride=patch)[0]
        patches = grid.flatten(1).T  # raster order, (P, C)
        x = torch.cat([w[emb + "class_embedding"][None], patches]) + w[emb + "position_embedding.weight"]
        x = layer_norm(x, w["vision_model.pre_layrnorm.weight"], w["vision_model.pre_layrnorm.bias"], eps)
        sizes = [1.0] * x.shape[0]
        trace = [(x, torch.tensor(sizes, dtype=torch.float64))]
        for i in range(blocks):
            p = f"vision_model.encoder.layers.{i}."
            attn_out, keys = attention(
                layer_norm(x, w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps), w, p + "self_attn.", heads
            )
            x = x + attn_out
            tokens, sizes = bipartite_merge(list(x), sizes, keys, r)
            x = torch.stack(tokens)
            h = layer_norm(x, w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
            h = quick_gelu(h @ w[p + "mlp.fc1.weight"].T + w[p + "mlp.fc1.bias"])
            x = x + h @ w[p + "mlp.fc2.weight"].T + w[p + "mlp.fc2.bias"]
            trace.append((x, torch.tensor(sizes, dtype=torch.float64)))
        per_frame.append(trace)
    return per_frame
