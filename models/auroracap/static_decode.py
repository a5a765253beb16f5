"""Greedy decoding for Llama with a preallocated KV cache and a CUDA-graph decode step.

transformers' ``generate`` spends most of each step on the host (logits processors, stopping
criteria, an EOS check that synchronises every token), which leaves the H100 at ~4x its
bandwidth floor for AuroraCap's long captions. This decoder keeps the whole step on the device:

* prefill runs one request at a time at its true length (``is_causal`` SDPA, no padded
  queries, logits of the last position only) and writes its K/V right-aligned into row b of
  static buffers ``(B, kv_heads, max_len, head_dim)``, so the batch is left-padded exactly like
  the plain path without materialising a (B, T, T) mask or full-sequence logits;
* each decode step (embed -> 32 layers -> argmax -> bookkeeping) reads and writes only static
  tensors and device-side indices, so on CUDA it is captured once as a graph and replayed; the
  host checks for EOS every ``sync_every`` steps instead of every token.

Only greedy, single-beam decoding takes this path; anything else uses ``generate``. The math is
the model's own: it calls the checkpoint's projections, norms, MLPs and rotary module, and only
re-implements the attention bookkeeping around the cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM

_LEN_QUANTUM = 256  # cache length rounding, so consecutive batches reuse one captured graph


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, heads, T, D); cos/sin (B, T, D)."""
    return x * cos[:, None] + _rotate_half(x) * sin[:, None]


@dataclass
class DecodeOutput:
    tokens: torch.Tensor  # (B, steps) on CPU; positions after a row's EOS hold pad_token_id
    prefill_s: float  # wall time until the first token of every row exists


class _Buffers:
    """Static tensors of one (batch, max_len) shape; a CUDA graph captured over them stays valid."""

    def __init__(self, lm: LlamaForCausalLM, batch: int, max_len: int, max_new: int) -> None:
        cfg = lm.config
        attn = lm.model.layers[0].self_attn
        param = lm.lm_head.weight
        kv_heads = cfg.num_key_value_heads
        shape = (batch, kv_heads, max_len, attn.head_dim)
        self.batch, self.max_len, self.max_new = batch, max_len, max_new
        self.keys = [torch.zeros(shape, dtype=param.dtype, device=param.device) for _ in lm.model.layers]
        self.values = [torch.zeros(shape, dtype=param.dtype, device=param.device) for _ in lm.model.layers]
        self.valid = torch.zeros((batch, max_len), dtype=torch.bool, device=param.device)
        self.token = torch.zeros(batch, dtype=torch.long, device=param.device)
        self.position = torch.zeros(batch, dtype=torch.long, device=param.device)
        self.column = torch.zeros(1, dtype=torch.long, device=param.device)  # cache slot written this step
        self.step = torch.zeros(1, dtype=torch.long, device=param.device)  # output slot written this step
        self.finished = torch.zeros(batch, dtype=torch.bool, device=param.device)
        self.out = torch.zeros((batch, max_new), dtype=torch.long, device=param.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_ids: tuple[int, int] | None = None  # (eos, pad) baked into the captured graph

    def bookkeeping(self) -> tuple[torch.Tensor, ...]:
        """The tensors a decode step mutates besides the cache slots."""
        return (self.valid, self.token, self.position, self.column, self.step, self.finished, self.out)


class StaticKVDecoder:
    """Greedy decoder over a ``LlamaForCausalLM`` (fp32/fp16/bf16, CPU or CUDA)."""

    def __init__(self, lm: LlamaForCausalLM, use_cuda_graph: bool = True, sync_every: int = 16) -> None:
        rope_type = (getattr(lm.config, "rope_scaling", None) or {}).get("rope_type", "default")
        if "dynamic" in str(rope_type):
            raise ValueError("dynamic RoPE scaling changes with length; use the plain generate path")
        self.lm = lm
        self.device = lm.lm_head.weight.device
        self.use_cuda_graph = use_cuda_graph and self.device.type == "cuda"
        self.sync_every = sync_every
        self._buffers: _Buffers | None = None

    # -- model pieces -------------------------------------------------------------------------
    def _attention(self, layer, h: torch.Tensor, cos, sin, keys, values, write, mask, causal: bool):
        """h (B, T, hidden) -> (B, T, hidden); writes this call's K/V through ``write(k, v)``."""
        attn = layer.self_attn
        b, t, _ = h.shape
        q = attn.q_proj(h).view(b, t, -1, attn.head_dim).transpose(1, 2)
        k = attn.k_proj(h).view(b, t, -1, attn.head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(b, t, -1, attn.head_dim).transpose(1, 2)
        q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        write(k, v)
        gqa = q.shape[1] != k.shape[1]
        if causal:  # prefill of one unpadded request
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=attn.scaling, enable_gqa=gqa)
        else:  # one decode step against the whole static cache, invalid slots masked
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=attn.scaling, enable_gqa=gqa)
        return attn.o_proj(o.transpose(1, 2).reshape(b, t, -1))

    def _layers(self, x: torch.Tensor, positions: torch.Tensor, write_for_layer, mask, causal: bool):
        cos, sin = self.lm.model.rotary_emb(x, positions)
        for i, layer in enumerate(self.lm.model.layers):
            buf = self._buffers
            keys = buf.keys[i] if buf is not None else None
            values = buf.values[i] if buf is not None else None
            x = x + self._attention(
                layer, layer.input_layernorm(x), cos, sin, keys, values, write_for_layer(i), mask, causal
            )
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.lm.lm_head(self.lm.model.norm(x[:, -1]))  # (B, vocab), last position only

    # -- buffers and graph ----------------------------------------------------------------------
    def _ensure_buffers(self, batch: int, needed_len: int, max_new: int) -> _Buffers:
        buf = self._buffers
        if buf is None or buf.batch != batch or buf.max_len < needed_len or buf.max_new < max_new:
            max_len = -(-needed_len // _LEN_QUANTUM) * _LEN_QUANTUM
            self._buffers = None  # free the old cache before allocating the new one
            buf = self._buffers = _Buffers(self.lm, batch, max_len, max_new)
        return buf

    def _decode_step(self) -> None:
        """One token for every row; touches only static tensors (graph-capturable)."""
        buf = self._buffers
        buf.valid.index_fill_(1, buf.column, True)
        x = self.lm.model.embed_tokens(buf.token[:, None])
        mask = buf.valid[:, None, None, :]

        def write_for_layer(i):
            def write(k, v):
                buf.keys[i].index_copy_(2, buf.column, k)
                buf.values[i].index_copy_(2, buf.column, v)

            return write

        logits = self._layers(x, buf.position[:, None], write_for_layer, mask, causal=False)
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
            for _ in range(2):  # warm-up: kernels selected and workspaces allocated outside the capture
                self._decode_step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._decode_step()
        for tensor, value in zip(buf.bookkeeping(), saved, strict=True):
            tensor.copy_(value)  # undo the warm-up side effects (cache slots get rewritten anyway)
        buf.graph, buf.graph_ids = graph, (self._eos, self._pad)

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
        batch = len(sequences)
        longest = max(s.shape[0] for s in sequences)
        buf = self._ensure_buffers(batch, longest + max_new_tokens, max_new_tokens)
        started = time.perf_counter()
        buf.valid.zero_()
        buf.finished.zero_()
        buf.step.zero_()
        first = torch.empty(batch, dtype=torch.long, device=self.device)
        for row, seq in enumerate(sequences):  # prefill, right-aligned at column `longest`
            n = seq.shape[0]
            start = longest - n

            def write_for_layer(i, row=row, start=start, n=n):
                def write(k, v):
                    buf.keys[i][row, :, start : start + n] = k[0]
                    buf.values[i][row, :, start : start + n] = v[0]

                return write

            positions = torch.arange(n, device=self.device)[None]
            logits = self._layers(seq[None].to(buf.keys[0].dtype), positions, write_for_layer, None, causal=True)
            first[row] = logits[0].argmax(-1)
            buf.valid[row, start:longest] = True
            buf.position[row] = n
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
