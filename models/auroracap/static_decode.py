"""Greedy decoding for Llama with a preallocated KV cache, a CUDA-graph decode step and continuous batching.

transformers' ``generate`` spends most of each step on the host (logits processors, stopping
criteria, an EOS check that synchronises every token), which leaves an H100 at ~4x its bandwidth
floor for AuroraCap's long captions. This decoder keeps the whole step on the device:

* continuous batching: the batch has ``batch_size`` rows (slots); each request is prefilled into a free
  slot, decodes until its EOS or its own ``max_new_tokens``, and the slot then takes the next waiting
  request, so the batch stays full until the queue is empty (a static batch would idle its finished
  rows until the longest one ends). Each row has its own cache column, position and step;
* prefill runs one request at a time at its true length (``is_causal`` SDPA, no padded queries,
  logits of the last position only) and writes its K/V into columns ``[0, T)`` of its row of static
  buffers ``(B, kv_heads, max_len, head_dim)``; an additive mask hides the columns a row has not
  written, so no (B, T, T) mask or full-sequence logits exist;
* a decode step (embed -> layers -> argmax -> bookkeeping) reads and writes only static tensors and
  device-side indices, so on CUDA it is captured as a graph and replayed; the host looks at the
  finished rows every ``sync_every`` steps (and at the step a row reaches its length limit) instead of
  every token;
* attention reads a span of the cache, its first columns up to the longest live row rounded up to
  ``_SPAN_QUANTUM``, rather than all ``max_len`` columns (sized for the longest caption a request may
  ask for, mostly unwritten in a real run); the host knows each row's length from its prompt and
  steps, so it picks the span without asking the device, and each span is one captured graph, all of
  them in one memory pool;
* on CUDA the work between two attentions (out-proj + norm + MLP of layer i, then norm + QKV + RoPE
  of layer i+1) is one function compiled once with inductor, so its element-wise work fuses (the
  residual add of one layer with the next layer's RMSNorm; RoPE with the store of the new K and V into
  the cache, an in-place indexed write that inductor emits into the cache itself): the function takes
  the layers' weights and cache as arguments, so one compilation serves every layer. The decoder keeps
  its own packed copies of the Q/K/V and gate/up weights (one GEMV streams them better than three; the
  model's modules stay untouched, at the cost of those copies' memory). In a decode step the MLP's
  long reductions run as two K slices of one batched product (``decode_gemv_splits``), whose partial
  sums the next fused kernel adds. Attention stays eager;
* a batch of one row runs its layers through ``decode_gemv.py``'s fused Triton kernels instead (``batch1``,
  default on CUDA): four a layer around the attention, each streaming one weight matrix with the
  element-wise work (RMSNorm, RoPE and the cache store, SiLU, the residual add) done in its registers,
  where the compiled functions' cuBLAS GEMVs need about eleven small kernels a layer besides (a step
  8-9 % faster, measured on an H200);
* K and V of a layer live in one (2, B, kv_heads, max_len, head_dim) tensor, and masking is an
  additive float mask kept up to date in place (one write per step) rather than a boolean mask that
  attention would convert again in every layer;
* ``attention="triton"`` (opt-in, CUDA) swaps a decode step's SDPA for ``decode_attention.py``'s
  split-K kernel, which reads only each row's valid columns (``column + 1``, from the device) rather
  than the whole span under the mask. It is exact but measured slower than SDPA (cuDNN) on an H100 at
  batch 1 and 16, so SDPA is the default; prefill always uses SDPA.

Only greedy, single-beam decoding of a Llama without biases takes this path; anything else uses
``generate``. The layer math mirrors transformers' Llama (fp32 RMSNorm, rotate-half RoPE from the
model's own rotary module, SiLU MLP), so tokens match ``generate`` (tested).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM

from vdc_bench.models.auroracap.arg_names import BATCH1_KERNELS
from vdc_bench.models.auroracap.cuda_graph import capture

_LEN_QUANTUM = 256  # cache length rounding, so consecutive batches reuse the buffers and their graphs
_SPAN_QUANTUM = 256  # attention reads the cache's columns in multiples of this: one captured graph per span
_WARMUP_STEPS = 3  # real steps run before capturing the graph; the buffers leave room for them


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    variance = x.float().pow(2).mean(-1, keepdim=True)
    return weight * (x.float() * torch.rsqrt(variance + eps)).to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def attention_inputs(x, cos, sin, ln, w_qkv, eps: float, head_dim: int, q_dim: int, kv_dim: int, cache=None, slot=None):
    """x (B, T, hidden) -> q (B, H, T, D) and K/V of the normed input, RoPE applied.

    Prefill (``cache`` None) returns q and the pair (k, v) of (B, KV, T, D). A decode step (T = 1) passes
    its layer's ``cache`` (2, B, KV, max_len, D) and ``slot`` = (rows, columns), two (B,) index tensors:
    the new K/V are stored there by the same kernel that applies RoPE (an in-place index_put on the
    input, which inductor writes into the cache itself, not into a copy), and (q, None) is returned. RoPE
    runs in the (B, T, heads, D) layout the projection produces; the results are transposed views.
    """
    b, t, _ = x.shape
    q, k, v = F.linear(_rms_norm(x, ln, eps), w_qkv).split((q_dim, kv_dim, kv_dim), dim=-1)
    q = q.reshape(b, t, -1, head_dim)
    k = k.reshape(b, t, -1, head_dim)
    v = v.reshape(b, t, -1, head_dim)
    cos, sin = cos[:, :, None], sin[:, :, None]
    q = (q * cos + _rotate_half(q) * sin).transpose(1, 2)
    k = k * cos + _rotate_half(k) * sin
    if cache is None:
        return q, (k.transpose(1, 2), v.transpose(1, 2))
    rows, columns = slot
    cache[:, rows, :, columns] = torch.stack((k[:, 0], v[:, 0]), dim=1)  # indexed as (B, 2, KV, D)
    return q, None


def _project(x: torch.Tensor, w: torch.Tensor, split: int = 1) -> torch.Tensor:
    """x (..., K) @ w (N, K)^T. With ``split`` > 1, K is cut into that many slices run as one batched
    product (more thread blocks than cuBLAS gives the single product of a decode step), and the partial
    sums are added in fp32 by the element-wise kernel that consumes them (inductor fuses the add)."""
    n, k = w.shape
    if split == 1 or k % split:
        return F.linear(x, w)
    slices = x.reshape(-1, split, k // split).transpose(0, 1)  # (split, M, K/split)
    partial = torch.bmm(slices, w.view(n, split, k // split).permute(1, 2, 0))  # (split, M, N)
    return partial.float().sum(0).to(x.dtype).reshape(*x.shape[:-1], n)


def decode_gemv_splits(batch: int) -> tuple[int, int]:
    """K slices of a decode step's (gate/up, down) projections. Measured on an H100 at batch 1 and 16
    (``tools/gpu_box/gemv_shapes.py``): the down projection (K 11008) gains 2.4-2.9 µs of 35 from two
    slices at both, gate/up (N 22016) 3.2 µs of 66 at batch 1 and loses at 16; QKV and the
    out-projection gain nothing at batch 1."""
    return (2 if batch == 1 else 1, 2)


def attention_output_and_mlp(x, attn, wo, ln, w_gate_up, w_down, eps: float, splits: tuple[int, int] = (1, 1)):
    """Residual adds around out-projection and the SiLU MLP; attn (B, H, T, D) -> x (B, T, hidden)."""
    b, _, t, _ = attn.shape
    x = x + F.linear(attn.transpose(1, 2).reshape(b, t, -1), wo)
    gate, up = _project(_rms_norm(x, ln, eps), w_gate_up, splits[0]).chunk(2, dim=-1)
    return x + _project(F.silu(gate) * up, w_down, splits[1])


def between_attentions(x, attn, post_weights: tuple, cos, sin, pre_weights: tuple, eps: float, *shape, cache=None,
                        slot=None, splits: tuple[int, int] = (1, 1)):
    """Layer i's out-projection and MLP, then layer i+1's attention inputs: (x, q, kv)."""
    x = attention_output_and_mlp(x, attn, *post_weights, eps, splits)
    return (x, *attention_inputs(x, cos, sin, *pre_weights, eps, *shape, cache=cache, slot=slot))


def _packed(*linears: torch.nn.Linear) -> torch.Tensor:
    """A copy of several projections' weights of the same input as one matrix (one GEMV instead of many)."""
    return torch.cat([m.weight.detach() for m in linears]).contiguous()


ATTENTION_BACKENDS = ("sdpa", "triton")


def _attention_backend(name: str, head_dim: int) -> str:
    if name not in ATTENTION_BACKENDS:
        raise ValueError(f"attention must be one of {ATTENTION_BACKENDS}, got {name!r}")
    if name == "triton" and head_dim & (head_dim - 1):
        raise ValueError(f"attention=triton needs a power-of-two head_dim, got {head_dim}")
    return name


@dataclass
class DecodeRequest:
    embeds: torch.Tensor  # (T, hidden) input embeddings
    max_new_tokens: int


@dataclass
class Decoded:
    tokens: torch.Tensor  # (n,) on CPU: up to and including EOS, or max_new_tokens tokens
    prefill_s: float  # this request's prefill (time to its first token once admitted)
    decode_s: float  # from the end of its prefill until the host saw it finish
    batch: int  # rows of the batch it decoded in


def batch1_kernels(setting: str, device: torch.device) -> str:
    """``torch`` or ``fused``: the layers a batch of one row decodes through, for a ``BATCH1_KERNELS`` setting."""
    if setting not in BATCH1_KERNELS:
        raise ValueError(f"batch1 must be one of {BATCH1_KERNELS}, got {setting!r}")
    if setting == "auto":
        return "fused" if device.type == "cuda" else "torch"
    return setting


def attention_span(columns: int, max_len: int) -> int:
    """The cache columns a decode step's attention reads when its longest row needs ``columns``: rounded up to
    ``_SPAN_QUANTUM`` (one captured graph per span), at most the whole cache."""
    return min(max_len, -(-columns // _SPAN_QUANTUM) * _SPAN_QUANTUM)


def _cache(kv: torch.Tensor) -> torch.Tensor:
    """A layer's (2, B, KV, max_len, D) cache, its length marked symbolic for the compiled functions that
    write it: a cache of another length (a later batch's, or grown for a longer request) then reuses their
    compilation instead of tracing them again (seconds, mid-run)."""
    torch._dynamo.maybe_mark_dynamic(kv, 3)
    return kv


class _Buffers:
    """Static tensors of one (batch, max_len, width) shape; a CUDA graph captured over them stays valid."""

    def __init__(self, lm: LlamaForCausalLM, batch: int, max_len: int, width: int) -> None:
        attn = lm.model.layers[0].self_attn
        param = lm.lm_head.weight
        self.kv_shape = (2, batch, lm.config.num_key_value_heads, max_len, attn.head_dim)
        kw = {"device": param.device}
        self.batch, self.max_len, self.width = batch, max_len, width
        self.kv = [_cache(torch.zeros(self.kv_shape, dtype=param.dtype, **kw)) for _ in lm.model.layers]  # [0] K, [1] V
        # Additive attention mask (B, 1, 1, max_len): 0 where a cache slot holds a real token, else -inf.
        self.bias = torch.full((batch, 1, 1, max_len), -torch.inf, dtype=param.dtype, **kw)
        self.token = torch.zeros(batch, dtype=torch.long, **kw)
        self.position = torch.zeros(batch, dtype=torch.long, **kw)  # RoPE position of the token fed next
        self.column = torch.zeros(batch, dtype=torch.long, **kw)  # cache slot each row writes next
        self.rows = torch.arange(batch, **kw)  # with ``column``: where a decode step writes each row's K/V
        self.step = torch.zeros(batch, dtype=torch.long, **kw)  # output slot each row writes next
        self.limit = torch.ones(batch, dtype=torch.long, **kw)  # each row's max_new_tokens
        self.finished = torch.ones(batch, dtype=torch.bool, **kw)  # empty rows count as finished
        self.out = torch.zeros((batch, width), dtype=torch.long, **kw)
        # One captured step per attention span (columns read), in one memory pool: they never run at once.
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.graph_eos: int | None = None  # the EOS id baked into the captured graphs
        self.graph_pool = None

    def bookkeeping(self) -> tuple[torch.Tensor, ...]:
        """The tensors a decode step mutates besides the cache slots."""
        return (self.bias, self.token, self.position, self.column, self.step, self.finished, self.out)

    @contextmanager
    def bookkeeping_kept(self) -> Iterator[None]:
        """Steps run inside leave the bookkeeping as they found it (the cache slots they wrote are rewritten
        by the real steps anyway): warm-ups before a capture, replays that only time a step."""
        saved = [t.clone() for t in self.bookkeeping()]
        yield
        for tensor, value in zip(self.bookkeeping(), saved, strict=True):
            tensor.copy_(value)

    def grow(self, max_len: int, width: int) -> None:
        """Enlarge the cache and output in place of the old ones, keeping their contents (a longer
        request joined mid-stream); one layer at a time, so the transient extra memory is one layer's."""
        self.graphs.clear()  # they point at the old tensors
        if max_len > self.max_len:
            for i, old in enumerate(self.kv):
                new = _cache(old.new_zeros(self.kv_shape[:3] + (max_len,) + self.kv_shape[4:]))
                new[..., : self.max_len, :] = old
                self.kv[i] = new
                del old, new
            self.kv_shape = self.kv_shape[:3] + (max_len,) + self.kv_shape[4:]
            bias = self.bias.new_full(self.bias.shape[:3] + (max_len,), -torch.inf)
            bias[..., : self.max_len] = self.bias
            self.bias, self.max_len = bias, max_len
        if width > self.width:
            out = self.out.new_zeros((self.batch, width))
            out[:, : self.width] = self.out
            self.out, self.width = out, width


class StaticKVDecoder:
    """Greedy decoder over a ``LlamaForCausalLM`` (fp32/fp16/bf16, CPU or CUDA)."""

    def __init__(
        self,
        lm: LlamaForCausalLM,
        use_cuda_graph: bool = True,
        compile_layers: bool = True,
        compile_prefill: bool = True,
        sync_every: int = 16,
        attention: str = "sdpa",
        batch1: str = "auto",
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
        self.attention = _attention_backend(attention, self.head_dim)
        self._split_k = None
        if self.attention == "triton":
            from vdc_bench.models.auroracap.decode_attention import decode_attention

            self._split_k = decode_attention
        self.batch1 = batch1_kernels(batch1, self.device)
        self._gemv = None
        if self.batch1 == "fused":
            from vdc_bench.models.auroracap import decode_gemv

            self._gemv = decode_gemv
        self.q_dim = cfg.num_attention_heads * self.head_dim
        self.kv_dim = cfg.num_key_value_heads * self.head_dim
        self.pre_weights, self.post_weights = [], []  # per layer: (ln1, w_qkv), (wo, ln2, w_gate_up, w_down)
        with torch.no_grad():
            for layer in lm.model.layers:
                attn, mlp = layer.self_attn, layer.mlp
                self.pre_weights.append((layer.input_layernorm.weight, _packed(attn.q_proj, attn.k_proj, attn.v_proj)))
                self.post_weights.append((attn.o_proj.weight, layer.post_attention_layernorm.weight,
                                          _packed(mlp.gate_proj, mlp.up_proj), mlp.down_proj.weight))
        self._eager = (attention_inputs, between_attentions, attention_output_and_mlp)
        compiled = compile_layers and on_cuda
        if compiled:
            # Each batch size (and prefill's shape-generic version) is one cache entry of the same three
            # functions; dynamo's default limit of 8 would silently fall back to eager after a few.
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        self._step_fns = tuple(torch.compile(f, dynamic=False) for f in self._eager) if compiled else self._eager
        # Prefill lengths vary per request: one compilation, generic in the sequence length only, fuses its
        # norms, RoPE and SiLU. (``dynamic=True`` would make every size symbolic, the weights' too: tracing
        # and guarding those took ~6 s at the first prefill of every process, even with a warm cache.)
        self._length_generic = compiled and compile_prefill
        self._prefill_fns = tuple(torch.compile(f) for f in self._eager) if self._length_generic else self._eager
        self._buffers: _Buffers | None = None

    def release(self) -> None:
        """Drop the KV cache and captured graph (e.g. before another model runs on the device)."""
        self._buffers = None

    # -- model pieces -------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor, positions: torch.Tensor, attend, fns, write=None, slot=None) -> torch.Tensor:
        """Run every layer; ``attend(i, q, kv)`` returns attention (B, H, T, D).

        ``fns`` = (attention_inputs, between_attentions, attention_output_and_mlp), compiled or eager.
        Prefill stores K/V through ``write(i, (k, v))``; a decode step passes ``slot`` = (rows, columns)
        and the functions write each layer's cache themselves.
        """
        pre, between, post = fns
        shape = (self.head_dim, self.q_dim, self.kv_dim)
        cos, sin = self.lm.model.rotary_emb(x, positions)
        length_generic = fns is self._prefill_fns and self._length_generic
        kv_cache = self._buffers.kv
        splits = decode_gemv_splits(x.shape[0]) if slot is not None else (1, 1)

        def store(i):  # keyword arguments of the function that computes layer i's K/V
            return {"cache": kv_cache[i], "slot": slot} if slot is not None else {}

        def mark_length(x, attn=None):  # the sequence dimension of a compiled function's inputs
            if length_generic:
                for tensor, dim in ((x, 1), (cos, 1), (sin, 1), (attn, 2)):
                    if tensor is not None:
                        torch._dynamo.maybe_mark_dynamic(tensor, dim)

        mark_length(x)
        q, kv = pre(x, cos, sin, *self.pre_weights[0], self.eps, *shape, **store(0))
        last = len(self.pre_weights) - 1
        for i in range(last + 1):
            if write is not None:
                write(i, kv)
            attn = attend(i, q, kv)
            mark_length(x, attn)
            if i == last:
                break
            x, q, kv = between(x, attn, self.post_weights[i], cos, sin, self.pre_weights[i + 1], self.eps, *shape,
                               splits=splits, **store(i + 1))
        return self._logits(post(x, attn, *self.post_weights[last], self.eps, splits))

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, hidden) after the last layer -> (B, vocab), of the last position only."""
        return self.lm.lm_head(self.lm.model.norm(x[:, -1]))

    def _forward_fused(self, x: torch.Tensor, positions: torch.Tensor, attend, column: torch.Tensor) -> torch.Tensor:
        """A batch-1 decode step's layers as decode_gemv.py's kernels, four per layer around the attention;
        x (1, 1, hidden) -> logits (1, vocab). K/V go into each layer's cache at ``column`` (1,)."""
        gemv, cfg = self._gemv, self.lm.config
        cos, sin = self.lm.model.rotary_emb(x, positions)
        for i, ((ln1, w_qkv), (wo, ln2, w_gate_up, w_down)) in enumerate(
            zip(self.pre_weights, self.post_weights, strict=True)
        ):
            q = gemv.qkv_rope(x, ln1, w_qkv, cos, sin, self._buffers.kv[i], column, self.eps,
                              cfg.num_attention_heads, cfg.num_key_value_heads)
            x = gemv.gemv_residual(x, attend(i, q, None), wo)
            x = gemv.gemv_residual(x, gemv.gate_up_silu(x, ln2, w_gate_up, self.eps), w_down)
        return self._logits(x)

    # -- buffers and graph ----------------------------------------------------------------------
    @staticmethod
    def _sizes(request: DecodeRequest) -> tuple[int, int]:
        # Capturing runs _WARMUP_STEPS real steps first, which write that many more cache and output
        # slots; a finished row keeps writing (padding) one slot past its last token.
        new = request.max_new_tokens + _WARMUP_STEPS + 1
        return request.embeds.shape[0] + new, new

    def _ensure_buffers(self, batch: int, needed_len: int, width: int) -> _Buffers:
        buf = self._buffers
        if buf is None or buf.batch != batch or buf.max_len < needed_len or buf.width < width:
            max_len = -(-needed_len // _LEN_QUANTUM) * _LEN_QUANTUM
            buf = self._buffers = None  # free the old cache (both references) before allocating the new one
            buf = self._buffers = _Buffers(self.lm, batch, max_len, -(-width // _LEN_QUANTUM) * _LEN_QUANTUM)
        return buf

    def _decode_step(self, span: int) -> None:
        """One token for every row; touches only static tensors (graph-capturable). Attention reads the
        cache's first ``span`` columns, which must hold every live row's written columns."""
        buf = self._buffers
        buf.bias.scatter_(3, buf.column.view(-1, 1, 1, 1), 0.0)
        lengths = buf.column + 1 if self._split_k else None  # the columns the mask leaves open: a prefix

        def attend(i, q, kv):
            keys, values = buf.kv[i][..., :span, :]
            if self._split_k is not None:
                return self._split_k(q, keys, values, lengths, self.scaling)
            return F.scaled_dot_product_attention(
                q, keys, values, attn_mask=buf.bias[..., :span], scale=self.scaling, enable_gqa=self.gqa
            )

        x = self.lm.model.embed_tokens(buf.token[:, None])
        if self._gemv is not None and buf.batch == 1:
            logits = self._forward_fused(x, buf.position[:, None], attend, buf.column)
        else:
            logits = self._forward(x, buf.position[:, None], attend, self._step_fns, slot=(buf.rows, buf.column))
        live = (~buf.finished).long()
        buf.position.add_(live)
        buf.column.add_(live)
        self._emit(logits.argmax(-1))

    def _emit(self, token: torch.Tensor) -> None:
        """Write each live row's token at its step; finished rows write padding one past their end."""
        buf = self._buffers
        token = torch.where(buf.finished, torch.zeros_like(token), token)
        buf.out.scatter_(1, buf.step[:, None], token[:, None])
        live = (~buf.finished).long()
        buf.step.add_(live)
        buf.finished |= (token == self._eos) | (buf.step >= buf.limit)
        buf.token.copy_(token)

    def _capture(self, span: int) -> torch.cuda.CUDAGraph:
        buf = self._buffers
        if buf.graph_eos != self._eos:
            buf.graphs.clear()
        if buf.graph_pool is None:
            buf.graph_pool = torch.cuda.graph_pool_handle()
        with buf.bookkeeping_kept():
            graph, _ = capture(lambda: self._decode_step(span), _WARMUP_STEPS, self.device, pool=buf.graph_pool)
        buf.graphs[span], buf.graph_eos = graph, self._eos
        return graph

    def _admit(self, row: int, request: DecodeRequest) -> float:
        """Prefill ``request`` into ``row`` (K/V at columns [0, T)) and emit its first token; returns seconds."""
        buf = self._buffers
        started = time.perf_counter()
        seq = request.embeds
        n = seq.shape[0]

        def write(i, kv):
            buf.kv[i][0, row, :, :n] = kv[0][0]
            buf.kv[i][1, row, :, :n] = kv[1][0]

        def attend(i, q, kv):
            return F.scaled_dot_product_attention(q, kv[0], kv[1], is_causal=True, scale=self.scaling, enable_gqa=self.gqa)

        positions = torch.arange(n, device=self.device)[None]
        logits = self._forward(seq[None].to(buf.kv[0].dtype), positions, attend, self._prefill_fns, write=write)
        first = logits[0].argmax()
        buf.bias[row].fill_(-torch.inf)
        buf.bias[row, ..., :n] = 0.0
        buf.position[row] = n
        buf.column[row] = n
        buf.out[row, 0] = first
        buf.token[row] = first
        buf.step[row] = 1
        buf.limit[row] = request.max_new_tokens
        buf.finished[row] = (first == self._eos) | (request.max_new_tokens <= 1)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - started

    # -- public API ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def stream(
        self, requests: Iterable[DecodeRequest], batch_size: int, eos_token_id: int
    ) -> Iterator[tuple[int, Decoded]]:
        """Greedy-decode ``requests`` (pulled lazily, in order) with up to ``batch_size`` at a time.

        Yields ``(index of the request, Decoded)`` as requests finish (not in request order). With as
        many requests as ``batch_size`` this is static batching.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._eos = int(eos_token_id)
        queue = enumerate(iter(requests))
        first = [item for _, item in zip(range(batch_size), queue, strict=False)]
        if not first:
            return
        sizes = [self._sizes(request) for _, request in first]
        buf = self._ensure_buffers(len(first), max(s[0] for s in sizes), max(s[1] for s in sizes))
        buf.finished.fill_(True)
        occupant: list[tuple[int, float, float] | None] = [None] * buf.batch  # (request index, prefill s, admitted at)
        deadline = [0] * buf.batch  # the step count by which a row must have finished (its length limit)
        # Per row, an upper bound of the columns its next step reads (its cache column + 1), less the step
        # count: the host's copy of the device's columns, which stop advancing, unseen, when a row finishes early.
        reach = [0] * buf.batch
        steps = 0

        def admit(row: int, index: int, request: DecodeRequest) -> None:
            need_len, need_width = self._sizes(request)
            if need_len > buf.max_len or need_width > buf.width:
                buf.grow(-(-need_len // _LEN_QUANTUM) * _LEN_QUANTUM, -(-need_width // _LEN_QUANTUM) * _LEN_QUANTUM)
            prefill_s = self._admit(row, request)
            occupant[row] = (index, prefill_s, time.perf_counter())
            deadline[row] = steps + request.max_new_tokens - 1
            reach[row] = request.embeds.shape[0] + 1 - steps

        for row, (index, request) in enumerate(first):
            admit(row, index, request)
        while any(o is not None for o in occupant):
            if steps % self.sync_every == 0 or steps >= min(d for d, o in zip(deadline, occupant, strict=True) if o):
                state = torch.stack((buf.finished.long(), buf.step)).cpu()
                for row, held in enumerate(occupant):
                    if held is None or not state[0, row]:
                        continue
                    index, prefill_s, admitted = held
                    tokens = buf.out[row, : int(state[1, row])].to("cpu", copy=True)  # the row gets reused
                    occupant[row] = None
                    yield index, Decoded(tokens, prefill_s, time.perf_counter() - admitted, buf.batch)
                    nxt = next(queue, None)
                    if nxt is not None:
                        admit(row, *nxt)
                if all(o is None for o in occupant):
                    break
            span = attention_span(max(r for r, o in zip(reach, occupant, strict=True) if o) + steps, buf.max_len)
            if self.use_cuda_graph:
                graph = buf.graphs.get(span) if buf.graph_eos == self._eos else None
                if graph is None:
                    graph = self._capture(span)
                graph.replay()
            else:
                self._decode_step(span)
            steps += 1

    def generate(
        self, sequences: list[torch.Tensor], max_new_tokens: int | list[int], eos_token_id: int,
        batch_size: int | None = None,
    ) -> list[Decoded]:
        """``stream`` over (T_i, hidden) sequences, results in input order (default: one static batch)."""
        limits = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(sequences)
        requests = [DecodeRequest(s, n) for s, n in zip(sequences, limits, strict=True)]
        out: list[Decoded | None] = [None] * len(requests)
        for index, decoded in self.stream(requests, batch_size or len(requests), eos_token_id):
            out[index] = decoded
        return out  # type: ignore[return-value]
