"""AuroraCap-7B captioning speed on one GPU: our fast path vs the upstream path, side by side.

Builds AuroraCap-7B-shaped random weights on the GPU (ViT-H/14 @378 + 2-layer GELU projector +
Llama-2-7B-shaped LLM; weights cannot be downloaded, and random weights time the same as real ones
when generation is forced to a fixed length) and measures, per (frames, token_kept_ratio):

* vision encoder (ViT+ToMe+projector) ms, and the share of it spent in the ToMe merge steps;
* our path: prefill ms (time to first token after the vision encoder), decode ms/token, seconds per
  caption at batch 1, and captions/s at the largest batch that fits; peak memory;
* the baselines on the same weights and inputs, each in a fresh process (``baseline.py``) before this
  one builds anything on the GPU: transformers ``generate`` with the default dynamic cache and with a
  static cache under ``torch.compile``, at batch 1 and at ``--baseline-batch``; ours at that batch too;
* whether the fast path's greedy tokens equal the baselines';
* realistic lengths (``lengths.py``): the same ``--stream-requests`` requests, each with a caption length
  drawn from VDC's reference lengths per dimension, through static batches and through continuous
  batching at the same batch size (same memory): captions/s of each;
* the bandwidth/compute roofline of the card, from its measured copy rate and matmul rate.

Needs torch + transformers only (not lmms-eval). Run: ``python -m vdc_bench.gpu_bench --output DIR``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

import torch

from vdc_bench.cli_options import Parser
from vdc_bench.gpu_bench.inputs import Inputs, build_model, make_inputs
from vdc_bench.gpu_bench.lengths import caption_lengths
from vdc_bench.gpu_bench.options import add_arguments
from vdc_bench.gpu_bench.roofline import Card, LlmShape, caption_seconds, vit_flops
from vdc_bench.models.auroracap.cuda_graph import capture
from vdc_bench.models.auroracap.graphed_vision import GraphedFrameEncoder
from vdc_bench.models.auroracap.merge_schedule import merge_r, protected_cap
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.static_decode import DecodeRequest, StaticKVDecoder
from vdc_bench.models.auroracap.tome import fused_merge, match, merge_matrix, merge_step


@dataclass
class Row:
    frames: int
    ratio: float
    tokens_per_frame: int
    context_tokens: int
    vision_ms: float  # fast path: encoder replayed from CUDA graphs
    vision_eager_ms: float  # the same encoder run eagerly (as the upstream path does)
    merge_ms: float
    prefill_ms: float
    decode_ms_per_token: float
    caption_s_b1: float
    batch: int
    captions_per_s: float
    batch_caption_s: float
    peak_mem_gb: float
    baseline_ttft_ms: float | None = None
    baseline_decode_ms_per_token: float | None = None
    baseline_caption_s: float | None = None
    baseline_peak_mem_gb: float | None = None
    baseline_batch: int | None = None  # the batched baselines' batch (ours measured at it too)
    baseline_batch_captions_per_s: float | None = None
    compiled_caption_s: float | None = None  # static cache + torch.compile, batch 1
    compiled_batch_captions_per_s: float | None = None
    compiled_tokens_match: int | None = None
    captions_per_s_at_baseline_batch: float | None = None  # ours, forced length, at baseline_batch
    stream_requests: int | None = None  # realistic lengths: requests, their mean length, the batch
    stream_mean_tokens: float | None = None
    stream_batch: int | None = None
    static_stream_captions_per_s: float | None = None
    continuous_stream_captions_per_s: float | None = None
    tokens_match_baseline: int | None = None
    divergence_logit_gap: float | None = None  # baseline logit of its token minus that of ours, where they part
    divergence_top_logit: float | None = None  # the baseline's top logit there, for scale
    roofline_caption_s_b1: float = 0.0
    roofline_captions_per_s: float = 0.0
    datasheet_roofline_caption_s_b1: float | None = None  # same floor from the vendor's bandwidth/FLOP figures
    fused_merge_identical: bool | None = None  # Triton merge: same sizes and unmerged tokens as torch's
    fused_merge_max_abs_diff: float | None = None  # ... and how far its merged tokens are from torch's GEMM
    notes: list[str] = field(default_factory=list)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else 0.0


def _median_ms(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure_card(device: torch.device) -> Card:
    """Achievable copy bandwidth (read + write counted) and bf16 matmul rate of this card."""
    src = torch.empty(2**30 // 2, dtype=torch.float16, device=device).normal_()
    dst = torch.empty_like(src)
    copy_ms = _median_ms(lambda: dst.copy_(src), 10, 3)
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=device)
    mm_ms = _median_ms(lambda: a @ a, 10, 3)
    return Card(torch.cuda.get_device_name(device), 2 * 2**30 / (copy_ms / 1e3), 2 * 8192**3 / (mm_ms / 1e3))


def _graph_ms(fn, repeats: int) -> float:
    """Median time of ``fn`` replayed from a CUDA graph (how the fast path runs the encoder)."""
    return _median_ms(capture(fn, warmup=1)[0].replay, repeats, 2)


def _tokens_by_block(model: AuroraCapModel, ratio: float) -> tuple[int, list[int]]:
    """ToMe's r and the tokens of one frame entering each ViT block at ``ratio`` (the merges shrink them)."""
    cfg = model.vision_tower.config
    side, layers = cfg.image_size, cfg.num_hidden_layers
    r = merge_r(side, side, cfg.patch_size, layers, ratio)
    tokens, t = [], (side // cfg.patch_size) ** 2 + 1
    for _ in range(layers):
        tokens.append(t)
        t -= protected_cap(t, r)
    return r, tokens


def _merge_inputs(model: AuroraCapModel, frames: int, ratio: float) -> tuple[int, list[tuple[torch.Tensor, ...]]]:
    """r and random (x, size, metric) of every ToMe step of one ViT forward, on the model's real shapes."""
    cfg = model.vision_tower.config
    r, tokens = _tokens_by_block(model, ratio)
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    kw = {"device": model.device, "dtype": model.dtype}
    return r, [(torch.randn(frames, t, cfg.hidden_size, **kw), torch.ones(frames, t, 1, **kw),
                torch.randn(frames, t, head_dim, **kw)) for t in tokens]


def vision_flops(model: AuroraCapModel, frames: int, ratio: float) -> float:
    """FLOPs of one request's ViT: the tokens entering each block shrink by ToMe's merges."""
    cfg = model.vision_tower.config
    return frames * vit_flops(_tokens_by_block(model, ratio)[1], cfg.hidden_size, cfg.intermediate_size)


def merge_ms(r: int, inputs: list[tuple[torch.Tensor, ...]], repeats: int) -> float:
    """Time of the ToMe merge steps of one ViT forward (``_merge_inputs``), replayed from a CUDA graph
    as in the fast path's encoder."""
    if r == 0:
        return 0.0
    steps = lambda: [merge_step(x, s, m, r) for x, s, m in inputs]  # noqa: E731
    return _graph_ms(steps, repeats) if inputs[0][0].is_cuda else _median_ms(steps, repeats)


def check_fused_merge(r: int, inputs: list[tuple[torch.Tensor, ...]]) -> tuple[bool | None, float | None]:
    """This device's fused (Triton) merge vs the torch merge at every ToMe step of one forward.

    Returns (same sizes and same unmerged tokens bit for bit, max |difference| of the merged tokens),
    or (None, None) where no fused merge runs.
    """
    fused = fused_merge(inputs[0][0].device)
    if r == 0 or fused is None:
        return None, None
    identical, worst = True, 0.0
    for x, size, metric in inputs:
        step_r = protected_cap(x.shape[1], r)
        score, dst = match(metric, True)
        weights, want_size = merge_matrix(score, dst, size, step_r)
        want = weights @ x
        got, got_size = fused(x, size, score, dst, step_r)
        single = (weights != 0).sum(-1) == 1
        identical &= bool(torch.equal(want_size, got_size)) and bool(torch.equal(got[single], want[single]))
        worst = max(worst, float((got.float() - want.float()).abs().max()))
    return identical, worst


def _generate_static(decoder: StaticKVDecoder, seqs, new_tokens: int, vocab: int):
    _sync()
    t0 = time.perf_counter()
    out = decoder.generate(seqs, new_tokens, eos_token_id=vocab)  # eos never sampled: forced length
    _sync()
    return out, time.perf_counter() - t0


def run_baselines(args, configs: list[tuple[int, float]]) -> dict[tuple[int, float], dict[str, dict]]:
    """Each baseline kind of each configuration in a fresh process; {(frames, ratio): {kind: result}}.
    Each result is also kept as ``baseline_<kind>_<frames>f_<ratio>.json`` in ``--output``."""
    out: dict[tuple[int, float], dict[str, dict]] = {}
    for frames, ratio in configs:
        for kind in args.baseline_kinds.split(","):
            path = args.out / f"baseline_{kind}_{frames}f_{ratio}.json"
            cmd = [sys.executable, "-m", "vdc_bench.gpu_bench.baseline", "--kind", kind, "--frames", str(frames),
                   "--ratio", str(ratio), "--batch", ",".join(sorted({"1", str(args.baseline_batch)})), "--new-tokens",
                   str(args.new_tokens), "--text-tokens", str(args.text_tokens), "--dtype", args.dtype,
                   "--size", args.size, "--repeats", str(args.baseline_repeats), "--output", str(path)]
            subprocess.run(cmd, check=True)
            out.setdefault((frames, ratio), {})[kind] = json.loads(path.read_text())
    return out


def _identical_prefix(ours: torch.Tensor, theirs: dict) -> tuple[int, float | None, float | None]:
    """Length of the identical token prefix; where they part, the baseline's logit of its token minus that
    of ours (None if ours is outside its top-k) and its top logit, for scale (fp16 near-ties flip)."""
    base = torch.tensor(theirs["tokens"])
    same = (base == ours[: len(base)]).long()
    first = int(same.cumprod(0).sum())
    if first >= len(base):
        return first, None, None
    ids, logits = theirs["top_ids"][first], theirs["top_logits"][first]
    mine = int(ours[first])
    gap = logits[0] - logits[ids.index(mine)] if mine in ids else None
    return first, gap, logits[0]


def _stream_captions_per_s(model, encoder, decoder: StaticKVDecoder, inp: Inputs, limits: list[int],
                           batch: int, continuous: bool) -> float:
    """Requests with these caption lengths (each vision-encoded when pulled, as the adapter does) through
    continuous batching, or through static batches of ``batch`` that each wait for their longest."""
    vocab = model.language_model.config.vocab_size

    def requests(lengths):
        for n in lengths:
            embeds, _ = model.embed_inputs([inp.ids], [list(encoder(inp.pixels, inp.ratio))])
            yield DecodeRequest(embeds[0], n)

    groups = [limits] if continuous else [limits[i : i + batch] for i in range(0, len(limits), batch)]
    _sync()
    started = time.perf_counter()
    for group in groups:
        for _ in decoder.stream(requests(group), batch, eos_token_id=vocab):  # eos never sampled
            pass
    _sync()
    return len(limits) / (time.perf_counter() - started)


def _free(decoder: StaticKVDecoder) -> None:
    decoder.release()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def bench_config(model, encoder, decoder, inp: Inputs, baselines: dict[str, dict], args, card) -> Row:
    device, frames, ratio, pixels, ids = model.device, inp.frames, inp.ratio, inp.pixels, inp.ids
    vocab = model.language_model.config.vocab_size
    vision_ms = _median_ms(lambda: encoder(pixels, ratio), args.repeats, 2)
    vision_eager_ms = _median_ms(lambda: model.encode_frames(pixels, ratio), args.repeats, 2)
    tokens = encoder(pixels, ratio)
    embeds, _ = model.embed_inputs([ids], [list(tokens)])
    seq = embeds[0]
    ctx = seq.shape[0]

    _reset_peak(device)
    _generate_static(decoder, [seq], args.new_tokens, vocab)  # warm-up and graph capture
    runs = [_generate_static(decoder, [seq], args.new_tokens, vocab) for _ in range(args.repeats)]
    fast_tokens = runs[0][0][0].tokens
    total = statistics.median(r[1] for r in runs)
    prefill = statistics.median(r[0][0].prefill_s for r in runs)
    decode_tok = (total - prefill) / (args.new_tokens - 1)
    peak_b1 = _peak_gb(device)

    merge_inputs = _merge_inputs(model, frames, ratio)  # one set for the timing and the kernel check
    vit = vision_flops(model, frames, ratio)
    row = Row(
        frames=frames, ratio=ratio, tokens_per_frame=int(tokens.shape[1]), context_tokens=ctx,
        vision_ms=vision_ms, vision_eager_ms=vision_eager_ms, merge_ms=merge_ms(*merge_inputs, args.repeats),
        prefill_ms=prefill * 1e3, decode_ms_per_token=decode_tok * 1e3,
        caption_s_b1=vision_ms / 1e3 + total, batch=1, captions_per_s=0.0, batch_caption_s=0.0, peak_mem_gb=peak_b1,
        roofline_caption_s_b1=caption_seconds(ctx, args.new_tokens, card, vision_flops=vit),
    )
    row.fused_merge_identical, row.fused_merge_max_abs_diff = check_fused_merge(*merge_inputs)
    del merge_inputs, tokens, embeds  # ~1 GB of random activations at 16 frames: free them before the batch search
    sheet = Card.datasheet(card.name)
    if sheet is not None:
        row.datasheet_roofline_caption_s_b1 = caption_seconds(ctx, args.new_tokens, sheet, vision_flops=vit)

    # Largest batch whose KV cache fits next to the weights (0.5 MiB/token, cache rounded to 256). Each
    # request's frames go through the encoder on their own, as in the adapter's continuous batching.
    _free(decoder)
    free = (torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 4e9) - args.headroom_gb * 1e9
    per_seq = LlmShape(bytes_per_param=model.dtype.itemsize).kv_bytes_per_token * (-(-(ctx + args.new_tokens) // 256) * 256)
    batch = max(1, min(args.max_batch, int(max(free, 0) // per_seq)))
    while batch >= 1:
        try:
            _reset_peak(device)
            seqs = [seq] * batch
            # An untimed full-length run first, as the baselines have: it compiles the step for this batch
            # shape and captures the graph of every attention span the timed run reads (one-offs per process,
            # which the lmms-eval end-to-end figures include).
            _generate_static(decoder, seqs, args.new_tokens, vocab)
            _, batch_total = _generate_static(decoder, seqs, args.new_tokens, vocab)
            row.batch = batch
            row.batch_caption_s = batch * vision_ms / 1e3 + batch_total
            row.captions_per_s = batch / row.batch_caption_s
            row.peak_mem_gb = max(peak_b1, _peak_gb(device))
            row.roofline_captions_per_s = batch / caption_seconds(ctx, args.new_tokens, card, batch=batch,
                                                                  vision_flops=vit)
        except torch.OutOfMemoryError:
            row.notes.append(f"batch {batch} out of memory")
        else:
            break
        # Free outside the except clause: the exception's traceback holds the failed call's frames and
        # their tensors, so memory released inside it stays allocated (the next try got less room).
        _free(decoder)
        batch = batch * 4 // 5  # the estimate was a little optimistic: shrink gently, not by half

    if args.stream_requests:
        _stream(model, encoder, decoder, inp, row, args)
    if baselines:
        _compare(row, baselines, fast_tokens, model, encoder, decoder, inp, args)
    _free(decoder)
    return row


def _stream(model, encoder, decoder, inp: Inputs, row: Row, args) -> None:
    """Realistic lengths at the searched batch: static batches vs continuous batching, same requests."""
    # A whole number of batches, so the static run's last batch has the same shape (no recompilation).
    drawn = caption_lengths(-(-args.stream_requests // row.batch) * row.batch, seed=0)
    limits = [n for _, n in drawn]
    row.stream_requests, row.stream_batch = len(limits), row.batch
    row.stream_mean_tokens = statistics.mean(limits)
    vocab = model.language_model.config.vocab_size
    seq = model.embed_inputs([inp.ids], [list(encoder(inp.pixels, inp.ratio))])[0][0]
    try:
        # Size the cache for the longest caption and capture its graph once, outside the timing.
        decoder.generate([seq] * row.batch, max(limits), eos_token_id=vocab)
        row.static_stream_captions_per_s = _stream_captions_per_s(
            model, encoder, decoder, inp, limits, row.batch, continuous=False)
        row.continuous_stream_captions_per_s = _stream_captions_per_s(
            model, encoder, decoder, inp, limits, row.batch, continuous=True)
    except torch.OutOfMemoryError:
        row.notes.append(f"realistic lengths at batch {row.batch}: out of memory")
    _free(decoder)


def _compare(row: Row, baselines: dict[str, dict], fast_tokens, model, encoder, decoder, inp: Inputs, args) -> None:
    """The baselines' numbers into the row, and ours at their batch size (forced length)."""
    vocab = model.language_model.config.vocab_size
    dynamic, compiled = baselines.get("dynamic"), baselines.get("static-compiled")
    if dynamic is not None:
        b1, batched = dynamic["rows"][0], dynamic["rows"][-1]
        row.baseline_ttft_ms = b1["ttft_s"] * 1e3
        row.baseline_caption_s = b1["run_s"]
        row.baseline_decode_ms_per_token = (b1["run_s"] - b1["ttft_s"]) / (args.new_tokens - 1) * 1e3
        row.baseline_peak_mem_gb = b1["peak_gb"]
        row.baseline_batch, row.baseline_batch_captions_per_s = batched["batch"], batched["captions_per_s"]
        row.tokens_match_baseline, row.divergence_logit_gap, row.divergence_top_logit = _identical_prefix(
            fast_tokens, dynamic)
    if compiled is not None:
        row.compiled_caption_s = compiled["rows"][0]["run_s"]
        row.baseline_batch = compiled["rows"][-1]["batch"]
        row.compiled_batch_captions_per_s = compiled["rows"][-1]["captions_per_s"]
        row.compiled_tokens_match = _identical_prefix(fast_tokens, compiled)[0]
    if row.baseline_batch:
        _free(decoder)
        seq = model.embed_inputs([inp.ids], [list(encoder(inp.pixels, inp.ratio))])[0][0]
        seqs = [seq] * row.baseline_batch
        _generate_static(decoder, seqs, 2, vocab)
        _, total = _generate_static(decoder, seqs, args.new_tokens, vocab)
        row.captions_per_s_at_baseline_batch = row.baseline_batch / (row.baseline_batch * row.vision_ms / 1e3 + total)


def markdown(rows: list[Row], card: Card, meta: dict) -> str:
    lines = [
        f"# AuroraCap-7B captioning speed ({meta['device']}, {meta['dtype']}, {meta['new_tokens']} new tokens)",
        "",
        f"Measured ceilings: copy {card.bandwidth / 1e12:.2f} TB/s, bf16 matmul {card.flops / 1e12:.0f} TFLOP/s. "
        "Roofline: per token, the weights a step reads (all but the input embedding table) and the valid KV "
        "cache at the copy rate; per caption, its prefill and ViT (ToMe's shrinking token counts) at the matmul "
        "rate. Random weights in AuroraCap-7B geometry; generation forced to a fixed length. "
        f"torch {meta['torch']}, transformers {meta['transformers']}.",
        "",
        "| frames | ρ | tok/frame | ctx | vision ms (eager) | vision ÷ ρ 1.0 | merge % | prefill ms | decode ms/tok "
        "| s/caption b1 | × roofline (datasheet) | baseline s/caption | speed-up b1 | batch | captions/s "
        "| × baseline | × roofline thr. | same tokens | peak GB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    full = {r.frames: r.vision_ms for r in rows if r.ratio == 1.0}
    def fmt(value, spec: str, suffix: str = "") -> str:
        return "–" if value is None else f"{value:{spec}}{suffix}"

    def same_tokens(r: Row, total: int) -> str:
        if r.tokens_match_baseline is None:
            return "–"
        text = f"{r.tokens_match_baseline}/{total}"
        if r.divergence_logit_gap is not None:  # the baseline's own margin where the two part
            text += f" (gap {r.divergence_logit_gap:.3f} of {r.divergence_top_logit:.2f})"
        return text

    def roofline(r: Row) -> str:
        measured = f"{r.caption_s_b1 / r.roofline_caption_s_b1:.2f}"
        sheet = r.datasheet_roofline_caption_s_b1
        return measured if sheet is None else f"{measured} ({r.caption_s_b1 / sheet:.2f})"

    for r in rows:
        base = r.baseline_caption_s
        lines.append(" | ".join([
            f"| {r.frames}", str(r.ratio), str(r.tokens_per_frame), str(r.context_tokens),
            f"{r.vision_ms:.1f} ({r.vision_eager_ms:.1f})", fmt(full.get(r.frames) and r.vision_ms / full[r.frames], ".2f"),
            f"{100 * r.merge_ms / r.vision_ms:.1f}", f"{r.prefill_ms:.0f}", f"{r.decode_ms_per_token:.2f}",
            f"{r.caption_s_b1:.2f}", roofline(r), fmt(base, ".2f"),
            fmt(base and base / r.caption_s_b1, ".1f", "×"), str(r.batch), f"{r.captions_per_s:.2f}",
            fmt(base and r.captions_per_s * base, ".1f", "×"), f"{r.captions_per_s / r.roofline_captions_per_s:.2f}",
            same_tokens(r, meta["new_tokens"]),
            f"{r.peak_mem_gb:.1f} |",
        ]))
    compared = [r for r in rows if r.compiled_caption_s or r.baseline_batch]
    if compared:
        lines += [
            "", "Against both baselines (each in a fresh process; forced length; ours includes the vision encoder "
            "per request, as do the baselines):", "",
            "| frames | ρ | ours s/caption b1 | dynamic b1 | ours × | compiled static b1 | ours × | batch "
            "| ours captions/s | dynamic | ours × | compiled static | ours × | compiled same tokens |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in compared:
            ours_b = r.captions_per_s_at_baseline_batch
            lines.append(" | ".join([
                f"| {r.frames}", str(r.ratio), f"{r.caption_s_b1:.2f}", fmt(r.baseline_caption_s, ".2f"),
                fmt(r.baseline_caption_s and r.baseline_caption_s / r.caption_s_b1, ".2f", "×"),
                fmt(r.compiled_caption_s, ".2f"),
                fmt(r.compiled_caption_s and r.compiled_caption_s / r.caption_s_b1, ".2f", "×"),
                str(r.baseline_batch), fmt(ours_b, ".2f"), fmt(r.baseline_batch_captions_per_s, ".3f"),
                fmt(r.baseline_batch_captions_per_s and ours_b and ours_b / r.baseline_batch_captions_per_s, ".2f", "×"),
                fmt(r.compiled_batch_captions_per_s, ".3f"),
                fmt(r.compiled_batch_captions_per_s and ours_b and ours_b / r.compiled_batch_captions_per_s, ".2f", "×"),
                fmt(r.compiled_tokens_match, "d", f"/{meta['new_tokens']}") + " |",
            ]))
    streamed = [r for r in rows if r.continuous_stream_captions_per_s]
    if streamed:
        lines += [
            "", "Realistic lengths (VDC reference lengths per dimension, see lengths.py): the same requests through "
            "static batches and continuous batching at the same batch size (same KV memory):", "",
            "| frames | ρ | requests | mean new tokens | batch | static captions/s | continuous captions/s "
            "| continuous ÷ static |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in streamed:
            lines.append(
                f"| {r.frames} | {r.ratio} | {r.stream_requests} | {r.stream_mean_tokens:.0f} | {r.stream_batch} "
                f"| {r.static_stream_captions_per_s:.2f} | {r.continuous_stream_captions_per_s:.2f} "
                f"| {r.continuous_stream_captions_per_s / r.static_stream_captions_per_s:.2f}× |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m vdc_bench.gpu_bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    return bench(p.parse_args(argv))


def bench(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``add_arguments`` options (also ``vdc-bench bench``)."""

    import transformers

    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype)
    # fp32 runs check token identity, so their matmuls and convolutions must be true fp32.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = dtype != torch.float32
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = [(int(f), float(r)) for f in args.frames.split(",") for r in args.ratios.split(",")]
    # The baselines first, each in its own process, while this one holds nothing on the GPU.
    baselines = run_baselines(args, pairs) if args.baseline else {}
    card = measure_card(device) if device.type == "cuda" else Card("cpu (smoke run, no roofline)", 1e10, 1e11)
    meta = {"device": card.name, "dtype": args.dtype, "new_tokens": args.new_tokens,
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "card": asdict(card), "baseline_kinds": args.baseline_kinds if args.baseline else None}
    torch.cuda.empty_cache() if device.type == "cuda" else None
    print(f"[bench] {meta}", flush=True)
    t0 = time.perf_counter()
    model = build_model(device, dtype, args.size)
    print(f"[bench] model built in {time.perf_counter() - t0:.1f}s", flush=True)
    decoder = StaticKVDecoder(model.language_model, batch1=args.decode_batch1)
    meta["decode_attention"] = decoder.attention
    meta["decode_batch1"] = decoder.batch1
    encoder = GraphedFrameEncoder(model) if device.type == "cuda" else model.encode_frames
    rows = []
    for frames, ratio in pairs:
        t0 = time.perf_counter()
        inp = make_inputs(model, frames, ratio, args.text_tokens)
        row = bench_config(model, encoder, decoder, inp, baselines.get((frames, ratio), {}), args, card)
        rows.append(row)
        print(f"[bench] {json.dumps(asdict(row))} ({time.perf_counter() - t0:.0f}s)", flush=True)
        (args.out / "gpu_bench.json").write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2))
    table = markdown(rows, card, meta)
    (args.out / "gpu_bench.md").write_text(table)
    print(table)
    return 0
