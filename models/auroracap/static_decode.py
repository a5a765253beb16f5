"""Greedy decoding for Llama with a preallocated KV cache and a CUDA-graph decode step.

transformers' ``generate`` spends most of each step on the host (logits processors, stopping
criteria, an EOS check that synchronises every token), which leaves an H100 at ~4x its bandwidth
floor for AuroraCap's long captions. This decoder keeps the whole step on the device:

* prefill runs one request at a time at its true length (``is_causal`` SDPA, no padded queries,
  logits of the last position only) and writes its K/V right-aligned into row b of static buffers
  ``(B, kv_heads, max_len, head_dim)``, so the batch is left-padded exactly like the plain path
  without a (B, T, T) mask or full-sequence logits;
* a decode step (embed -> layers -> argmax -> bookkeeping) reads and writes only static tensors and
  device-side indices, so on CUDA it is captured once as a graph and replayed; the host checks for
  EOS every ``sync_every`` steps instead of every token;
* on CUDA the work between two attentions (out-proj + norm + MLP of layer i, then norm + QKV + RoPE
  of layer i+1) is one function compiled once with inductor, so its element-wise work fuses (the
  residual add of one layer with the next layer's RMSNorm, RoPE with packing K and V into one tensor):
  the function takes the layers' weights as arguments, so one compilation serves every layer. Cache
  writes and attention stay eager, so no compiled graph ever mutates (or copies) the cache;
* K and V of a layer live in one (2, B, kv_heads, max_len, head_dim) tensor (one cache write per
  layer), and padding is an additive float mask kept up to date in place (one write per step) rather
  than a boolean mask that attention would convert again in every layer.

Only greedy, single-beam decoding of a Llama without biases takes this path; anything else uses
``generate``. The layer math mirrors transformers' Llama (fp32 RMSNorm, rotate-half RoPE from the
model's own rotary module, SiLU MLP), so tokens match ``generate`` (tested).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM

_LEN_QUANTUM = 256  # cache length rounding, so consecutive batches reuse one captured graph
_WARMUP_STEPS = 3  # real steps run before capturing the graph; the buffers leave room for them


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    variance = x.float().pow(2).mean(-1, keepdim=True)
    return weight * (x.float() * torch.rsqrt(variance + eps)).to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def attention_inputs(
    x, cos, sin, ln, w_qkv, eps: float, head_dim: int, q_dim: int, kv_dim: int, pack_kv: bool = True
):
    """x (B, T, hidden) -> q (B, H, T, D) and kv of the normed input, RoPE applied.

    kv is one (2, B, KV, T, D) tensor when ``pack_kv`` (a decode step: one cache write), else the pair
    (k, v) of (B, KV, T, D) (prefill: packing thousands of positions made inductor's RoPE kernel ~10x
    slower than the data it moves). RoPE runs in the (B, T, heads, D) layout the projection produces;
    the results are transposed views.
    """
    b, t, _ = x.shape
    q, k, v = F.linear(_rms_norm(x, ln, eps), w_qkv).split((q_dim, kv_dim, kv_dim), dim=-1)
    q = q.reshape(b, t, -1, head_dim)
    k = k.reshape(b, t, -1, head_dim)
    v = v.reshape(b, t, -1, head_dim)
    cos, sin = cos[:, :, None], sin[:, :, None]
    q = (q * cos + _rotate_half(q) * sin).transpose(1, 2)
    k = k * cos + _rotate_half(k) * sin
    if pack_kv:
        return q, torch.stack((k, v)).transpose(2, 3)  # (2, B, T, KV, D) in memory
    return q, (k.transpose(1, 2), v.transpose(1, 2))


def attention_output_and_mlp(x, attn, wo, ln, w_gate_up, w_down, eps: float):
    """Residual adds around out-projection and the SiLU MLP; attn (B, H, T, D) -> x (B, T, hidden)."""
    b, _, t, _ = attn.shape
    x = x + F.linear(attn.transpose(1, 2).reshape(b, t, -1), wo)
    gate, up = F.linear(_rms_norm(x, ln, eps), w_gate_up).chunk(2, dim=-1)
    return x + F.linear(F.silu(gate) * up, w_down)


def between_attentions(x, attn, post_weights: tuple, cos, sin, pre_weights: tuple, eps: float, *shape):
    """Layer i's out-projection and MLP, then layer i+1's attention inputs: (x, q, kv)."""
    x = attention_output_and_mlp(x, attn, *post_weights, eps)
    return (x, *attention_inputs(x, cos, sin, *pre_weights, eps, *shape))


def _fuse_rows(*linears: torch.nn.Linear) -> torch.Tensor:
    """One weight matrix for several projections of the same input, the modules keeping views of it.

    A decode step is bandwidth bound: one (Nq+Nk+Nv, hidden) GEMV streams the weights better than
    three, and the views mean no second copy of the weights (``generate`` sees the same tensors).
    """
    fused = torch.cat([m.weight.detach() for m in linears]).contiguous()
    start = 0
    for m in linears:
        rows = m.weight.shape[0]
        m.weight = torch.nn.Parameter(fused[start : start + rows], requires_grad=False)
        start += rows
    return fused


@dataclass
class DecodeOutput:
    tokens: torch.Tensor  # (B, steps) on CPU; positions after a row's EOS hold pad_token_id
    prefill_s: float  # wall time until the first token of every row exists


class _Buffers:
    """Static tensors of one (batch, max_len) shape; a CUDA graph captured over them stays valid."""

    def __init__(self, lm: LlamaForCausalLM, batch: int, max_len: int, max_new: int) -> None:
        attn = lm.model.layers[0].self_attn
        param = lm.lm_head.weight
        shape = (2, batch, lm.config.num_key_value_heads, max_len, attn.head_dim)
        kw = {"device": param.device}
        self.batch, self.max_len, self.max_new = batch, max_len, max_new
        self.kv = [torch.zeros(shape, dtype=param.dtype, **kw) for _ in lm.model.layers]  # [0] keys, [1] values
        # Additive attention mask (B, 1, 1, max_len): 0 where a cache slot holds a real token, else -inf.
        self.bias = torch.full((batch, 1, 1, max_len), -torch.inf, dtype=param.dtype, **kw)
        self.token = torch.zeros(batch, dtype=torch.long, **kw)
        self.position = torch.zeros(batch, dtype=torch.long, **kw)
        self.column = torch.zeros(1, dtype=torch.long, **kw)  # cache slot written this step
        self.step = torch.zeros(1, dtype=torch.long, **kw)  # output slot written this step
        self.finished = torch.zeros(batch, dtype=torch.bool, **kw)
        self.out = torch.zeros((batch, max_new), dtype=torch.long, **kw)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_ids: tuple[int, int] | None = None  # (eos, pad) baked into the captured graph

    def bookkeeping(self) -> tuple[torch.Tensor, ...]:
        """The tensors a decode step mutates besides the cache slots."""
        return (self.bias, self.token, self.position, self.column, self.step, self.finished, self.out)


class StaticKVDecoder:
    """Greedy decoder over a ``LlamaForCausalLM`` (fp32/fp16/bf16, CPU or CUDA)."""

    def __init__(
        self,
        lm: LlamaForCausalLM,
        use_cuda_graph: bool = True,
        compile_layers: bool = True,
        compile_prefill: bool = True,
        sync_every: int = 16,
    ) -> None:
        cfg = lm.config
        rope_type = (getattr(cfg, "rope_scaling", None) or {}).get("rope_type", "default")
        if "dynamic" in str(rope_type):
            raise ValueError("dynamic RoPE scaling changes with length; use the plain generate path")
        if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False) or cfg.hidden_act != "silu":
            raise ValueError("the static decoder covers Llama without biases and with SiLU; use generate")
        self.lm = lm
        self.device = lm.lm_head.weight.device
        on_cuda = self.device.type == "cuda"
        self.use_cuda_graph = use_cuda_graph and on_cuda
        self.sync_every = sync_every
        self.eps = float(cfg.rms_norm_eps)
        self.head_dim = lm.model.layers[0].self_attn.head_dim
        self.scaling = lm.model.layers[0].self_attn.scaling
        self.gqa = cfg.num_key_value_heads != cfg.num_attention_heads
        self.q_dim = cfg.num_attention_heads * self.head_dim
        self.kv_dim = cfg.num_key_value_heads * self.head_dim
        self.pre_weights, self.post_weights = [], []  # per layer: (ln1, w_qkv), (wo, ln2, w_gate_up, w_down)
        for layer in lm.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.pre_weights.append((layer.input_layernorm.weight, _fuse_rows(attn.q_proj, attn.k_proj, attn.v_proj)))
            self.post_weights.append((attn.o_proj.weight, layer.post_attention_layernorm.weight,
                                      _fuse_rows(mlp.gate_proj, mlp.up_proj), mlp.down_proj.weight))
        self._eager = (attention_inputs, between_attentions, attention_output_and_mlp)
        compiled = compile_layers and on_cuda
        if compiled:
            # Each batch size (and prefill's shape-generic version) is one cache entry of the same three
            # functions; dynamo's default limit of 8 would silently fall back to eager after a few.
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        self._step_fns = tuple(torch.compile(f, dynamic=False) for f in self._eager) if compiled else self._eager
        # Prefill lengths vary per request: one shape-generic compilation fuses its norms, RoPE and SiLU.
        compiled_prefill = compiled and compile_prefill
        self._prefill_fns = (
            tuple(torch.compile(f, dynamic=True) for f in self._eager) if compiled_prefill else self._eager
        )
        self._buffers: _Buffers | None = None

    def release(self) -> None:
        """Drop the KV cache and captured graph (e.g. before another model runs on the device)."""
        self._buffers = None

    # -- model pieces -------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor, positions: torch.Tensor, write, attend, fns, pack_kv: bool) -> torch.Tensor:
        """Run every layer; ``write(i, kv)`` stores K/V, ``attend(i, q, kv)`` returns attention (B, H, T, D).

        ``fns`` = (attention_inputs, between_attentions, attention_output_and_mlp), compiled or eager.
        """
        pre, between, post = fns
        shape = (self.head_dim, self.q_dim, self.kv_dim, pack_kv)
        cos, sin = self.lm.model.rotary_emb(x, positions)
        q, kv = pre(x, cos, sin, *self.pre_weights[0], self.eps, *shape)
        last = len(self.pre_weights) - 1
        for i in range(last):
            write(i, kv)
            attn = attend(i, q, kv)
            x, q, kv = between(x, attn, self.post_weights[i], cos, sin, self.pre_weights[i + 1], self.eps, *shape)
        write(last, kv)
        x = post(x, attend(last, q, kv), *self.post_weights[last], self.eps)
        return self.lm.lm_head(self.lm.model.norm(x[:, -1]))  # (B, vocab), last position only

    # -- buffers and graph ----------------------------------------------------------------------
    def _ensure_buffers(self, batch: int, needed_len: int, max_new: int) -> _Buffers:
        # Capturing runs _WARMUP_STEPS real steps first, which write that many cache and output slots.
        needed_len, max_new = needed_len + _WARMUP_STEPS, max_new + _WARMUP_STEPS
        buf = self._buffers
        if buf is None or buf.batch != batch or buf.max_len < needed_len or buf.max_new < max_new:
            max_len = -(-needed_len // _LEN_QUANTUM) * _LEN_QUANTUM
            self._buffers = None  # free the old cache before allocating the new one
            buf = self._buffers = _Buffers(self.lm, batch, max_len, max_new)
        return buf

    def _decode_step(self) -> None:
        """One token for every row; touches only static tensors (graph-capturable)."""
        buf = self._buffers
        buf.bias.index_fill_(3, buf.column, 0.0)

        def write(i, kv):
            buf.kv[i].index_copy_(3, buf.column, kv)

        def attend(i, q, kv):
            keys, values = buf.kv[i]
            return F.scaled_dot_product_attention(
                q, keys, values, attn_mask=buf.bias, scale=self.scaling, enable_gqa=self.gqa
            )

        x = self.lm.model.embed_tokens(buf.token[:, None])
        logits = self._forward(x, buf.position[:, None], write, attend, self._step_fns, pack_kv=True)
        self._emit(logits.argmax(-1))
        buf.position.add_(1)
        buf.column.add_(1)

    def _emit(self, token: torch.Tensor) -> None:
        buf = self._buffers
        token = torch.where(buf.finished, torch.full_like(token, self._pad), token)
        buf.out.index_copy_(1, buf.step, token[:, None])
        buf.finished |= token == self._eos
        buf.token.copy_(token)
        buf.step.add_(1)

    def _capture(self) -> None:
        buf = self._buffers
        saved = [t.clone() for t in buf.bookkeeping()]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(_WARMUP_STEPS):  # compilation, kernel choice and workspaces happen outside the capture
                self._decode_step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._decode_step()
        for tensor, value in zip(buf.bookkeeping(), saved, strict=True):
            tensor.copy_(value)  # undo the warm-up side effects (cache slots get rewritten anyway)
        buf.graph, buf.graph_ids = graph, (self._eos, self._pad)

    def _prefill(self, buf: _Buffers, sequences: list[torch.Tensor], longest: int) -> torch.Tensor:
        """Each (T_i, hidden) sequence at its own length, K/V right-aligned at column ``longest``."""
        first = torch.empty(len(sequences), dtype=torch.long, device=self.device)
        for row, seq in enumerate(sequences):
            n = seq.shape[0]
            start = longest - n

            def write(i, kv, row=row, start=start, n=n):
                buf.kv[i][0, row, :, start : start + n] = kv[0][0]
                buf.kv[i][1, row, :, start : start + n] = kv[1][0]

            def attend(i, q, kv):
                return F.scaled_dot_product_attention(
                    q, kv[0], kv[1], is_causal=True, scale=self.scaling, enable_gqa=self.gqa
                )

            positions = torch.arange(n, device=self.device)[None]
            x = seq[None].to(buf.kv[0].dtype)
            first[row] = self._forward(x, positions, write, attend, self._prefill_fns, pack_kv=False)[0].argmax()
            buf.bias[row, ..., start:longest] = 0.0
            buf.position[row] = n
        return first

    # -- public API ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        sequences: list[torch.Tensor],
        max_new_tokens: int,
        eos_token_id: int,
        pad_token_id: int,
    ) -> DecodeOutput:
        """Greedy-decode each (T_i, hidden) input-embedding sequence; returns tokens (B, steps)."""
        self._eos, self._pad = int(eos_token_id), int(pad_token_id)
        longest = max(s.shape[0] for s in sequences)
        buf = self._ensure_buffers(len(sequences), longest + max_new_tokens, max_new_tokens)
        started = time.perf_counter()
        buf.bias.fill_(-torch.inf)
        buf.finished.zero_()
        buf.step.zero_()
        first = self._prefill(buf, sequences, longest)
        buf.column.fill_(longest)
        self._emit(first)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        prefill_s = time.perf_counter() - started

        if self.use_cuda_graph and buf.graph_ids != (self._eos, self._pad):
            self._capture()
        steps = 1
        while steps < max_new_tokens:
            if buf.graph is not None:
                buf.graph.replay()
            else:
                self._decode_step()
            steps += 1
            if steps % self.sync_every == 0 and bool(buf.finished.all()):
                break
        return DecodeOutput(tokens=buf.out[:, :steps].cpu(), prefill_s=prefill_s)
