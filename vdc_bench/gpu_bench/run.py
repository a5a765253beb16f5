"""AuroraCap-7B captioning speed on one GPU: our fast path vs the upstream path, side by side.

Builds AuroraCap-7B-shaped random weights on the GPU (ViT-H/14 @378 + 2-layer GELU projector +
Llama-2-7B-shaped LLM; weights cannot be downloaded, and random weights time the same as real ones
when generation is forced to a fixed length) and measures, per (frames, token_kept_ratio):

* vision encoder (ViT+ToMe+projector) ms, and the share of it spent in the ToMe merge steps;
* our path: prefill ms (time to first token after the vision encoder), decode ms/token, seconds per
  caption at batch 1, and captions/s at the largest batch that fits; peak memory;
* the baseline on the same weights and inputs: transformers ``generate`` with the default dynamic
  cache at batch 1 (``LlavaForConditionalGeneration.generate`` itself at ratio 1.0, where it can
  run AuroraCap unchanged; the language model's ``generate`` on the ToMe features below 1.0, which is
  what the upstream wrapper does);
* whether the fast path's greedy tokens equal the baseline's;
* the bandwidth/compute roofline of the card, from its measured copy rate and matmul rate.

Needs torch + transformers only (not lmms-eval). Run: ``python -m vdc_bench.gpu_bench --out DIR``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LogitsProcessor,
)

from vdc_bench.cli_options import Parser
from vdc_bench.gpu_bench.options import add_arguments
from vdc_bench.gpu_bench.roofline import Card, LlmShape, caption_seconds
from vdc_bench.models.auroracap.graphed_vision import GraphedFrameEncoder
from vdc_bench.models.auroracap.merge_schedule import merge_r, protected_cap
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import IMAGE_TOKEN_INDEX
from vdc_bench.models.auroracap.random_checkpoint import SIZES, random_state_dicts
from vdc_bench.models.auroracap.static_decode import StaticKVDecoder
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


def build_model(device: torch.device, dtype: torch.dtype, size: str = "7b-shape", seed: int = 0) -> AuroraCapModel:
    shape = SIZES[size]
    states = random_state_dicts(shape, seed, device)
    return AuroraCapModel.from_state_dicts(
        CLIPVisionConfig(**shape.vision), LlamaConfig(**shape.text), states, dtype, device, source="random 7b-shape"
    )


def build_llava(model: AuroraCapModel, image_token_id: int) -> LlavaForConditionalGeneration:
    """transformers' LLaVA sharing our tensors (no copy): the stock runtime, without ToMe."""
    config = LlavaConfig(
        vision_config=model.vision_tower.config, text_config=model.language_model.config,
        image_token_index=image_token_id, projector_hidden_act="gelu", vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    with torch.device("meta"):
        llava = LlavaForConditionalGeneration(config)
    expected = set(llava.state_dict())
    state = {f"model.language_model.{k[len('model.'):]}": v for k, v in model.language_model.state_dict().items()
             if k.startswith("model.")}
    state["lm_head.weight"] = model.language_model.lm_head.weight
    for key, value in model.vision_tower.state_dict().items():
        # transformers >= 5.2x nests CLIPVisionTransformer directly (no ``vision_model.`` level)
        target = f"model.vision_tower.{key}"
        state[target if target in expected else f"model.vision_tower.{key.removeprefix('vision_model.')}"] = value
    names = {"model.0.": "model.multi_modal_projector.linear_1.", "model.2.": "model.multi_modal_projector.linear_2."}
    state.update({names[k[:8]] + k[8:]: v for k, v in model.projector.state_dict().items()})
    llava.load_state_dict(state, assign=True)
    llava.model.language_model.rotary_emb = type(llava.model.language_model.rotary_emb)(
        config=model.language_model.config).to(model.device)
    tower = llava.model.vision_tower
    emb = getattr(tower, "vision_model", tower).embeddings
    emb.position_ids = torch.arange(emb.num_positions, device=model.device).expand((1, -1))
    return llava.eval()


class _Clock(LogitsProcessor):
    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids, scores):
        if self.first is None:
            _sync()
            self.first = time.perf_counter()
        return scores


def _prompt_ids(frames: int, text_tokens: int, vocab: int, generator: torch.Generator) -> list[int]:
    """BOS + text + one sentinel per frame (space-separated) + text, like the vicuna_v1 prompt."""
    def words(n: int) -> list[int]:
        return torch.randint(100, vocab - 2, (n,), generator=generator).tolist()

    ids = [1] + words(text_tokens)
    for i in range(frames):
        ids += [IMAGE_TOKEN_INDEX] + (words(1) if i < frames - 1 else [])
    return ids + words(text_tokens)


def _graph_ms(fn, repeats: int) -> float:
    """Median time of ``fn`` replayed from a CUDA graph (how the fast path runs the encoder)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return _median_ms(graph.replay, repeats, 2)


def _merge_inputs(model: AuroraCapModel, frames: int, ratio: float) -> tuple[int, list[tuple[torch.Tensor, ...]]]:
    """r and random (x, size, metric) of every ToMe step of one ViT forward, on the model's real shapes."""
    cfg = model.vision_tower.config
    side, layers = cfg.image_size, cfg.num_hidden_layers
    r = merge_r(side, side, cfg.patch_size, layers, ratio)
    inputs, t = [], (side // cfg.patch_size) ** 2 + 1
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    kw = {"device": model.device, "dtype": model.dtype}
    for _ in range(layers):
        inputs.append((torch.randn(frames, t, cfg.hidden_size, **kw), torch.ones(frames, t, 1, **kw),
                       torch.randn(frames, t, head_dim, **kw)))
        t -= protected_cap(t, r)
    return r, inputs


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
    out = decoder.generate(seqs, new_tokens, eos_token_id=vocab, pad_token_id=0)  # eos never sampled
    _sync()
    return out, time.perf_counter() - t0


@dataclass
class Inputs:
    frames: int
    ratio: float
    pixels: torch.Tensor  # (frames, 3, H, W) on the device
    ids: list[int]  # prompt token ids with IMAGE_TOKEN_INDEX sentinels


@dataclass
class Baseline:
    ttft_s: float
    caption_s: float
    peak_gb: float
    tokens: torch.Tensor  # (new_tokens,) greedy tokens
    scores: list[torch.Tensor]  # per step, the processed logits (fp32, CPU): margins where outputs part


def make_inputs(model: AuroraCapModel, frames: int, ratio: float, args, generator: torch.Generator) -> Inputs:
    side = model.vision_tower.config.image_size
    pixels = torch.randn(frames, 3, side, side, generator=generator).to(model.device, model.dtype)
    return Inputs(frames, ratio, pixels, _prompt_ids(frames, args.text_tokens, model.language_model.config.vocab_size,
                                                     generator))


def measure_baseline(model: AuroraCapModel, llava, inp: Inputs, args) -> Baseline:
    """transformers ``generate`` (default dynamic cache, greedy, batch 1) on the same weights and inputs.

    The bench runs every baseline before the fast path compiles or captures anything, so no state of
    ours can slow it. It is host-bound all the same: on one H100 it measured 24-72 ms/token across
    processes and runs with nothing changed (results/gpu_bench/README.md); compare against its best.
    """
    device, vocab, ratio, pixels, ids = model.device, model.language_model.config.vocab_size, inp.ratio, inp.pixels, inp.ids
    _reset_peak(device)
    scores = {"output_scores": True, "return_dict_in_generate": True}
    features = model.encode_frames(pixels, ratio)
    if ratio == 1.0:
        image_id = vocab - 1  # an existing row stands in for <image>: only timing and argmax matter
        expanded = []
        for t in ids:
            expanded += [image_id] * int(features.shape[1]) if t == IMAGE_TOKEN_INDEX else [t]
        llava_ids = torch.tensor([expanded], device=device)

        def run_baseline(clock, new_tokens):
            return llava.generate(input_ids=llava_ids, pixel_values=pixels, max_new_tokens=new_tokens,
                                  min_new_tokens=new_tokens, do_sample=False, num_beams=1,
                                  logits_processor=[clock], pad_token_id=0, **scores)
    else:
        ctx = model.embed_inputs([ids], [list(features)])[0].shape[1]
        mask = torch.ones(1, ctx, dtype=torch.long, device=device)

        def run_baseline(clock, new_tokens):
            emb, _ = model.embed_inputs([ids], [list(model.encode_frames(pixels, ratio))])
            return model.language_model.generate(
                inputs_embeds=emb, attention_mask=mask, max_new_tokens=new_tokens,
                min_new_tokens=new_tokens, do_sample=False, num_beams=1, logits_processor=[clock],
                pad_token_id=0, **scores)

    run_baseline(_Clock(), 8)  # warm-up
    times = []
    for _ in range(args.baseline_repeats):
        clock = _Clock()
        _sync()
        t0 = time.perf_counter()
        out = run_baseline(clock, args.new_tokens)
        _sync()
        times.append((clock.first - t0, time.perf_counter() - t0))
    return Baseline(
        ttft_s=statistics.median(t[0] for t in times), caption_s=statistics.median(t[1] for t in times),
        peak_gb=_peak_gb(device), tokens=out.sequences[0, -args.new_tokens:].cpu(),
        scores=[step[0].float().cpu() for step in out.scores],
    )


def bench_config(model, encoder, decoder, inp: Inputs, baseline: Baseline | None, args, card) -> Row:
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
    fast_tokens = runs[0][0].tokens[0]
    total = statistics.median(r[1] for r in runs)
    prefill = statistics.median(r[0].prefill_s for r in runs)
    decode_tok = (total - prefill) / (args.new_tokens - 1)
    peak_b1 = _peak_gb(device)

    merge_inputs = _merge_inputs(model, frames, ratio)  # one set for the timing and the kernel check
    row = Row(
        frames=frames, ratio=ratio, tokens_per_frame=int(tokens.shape[1]), context_tokens=ctx,
        vision_ms=vision_ms, vision_eager_ms=vision_eager_ms, merge_ms=merge_ms(*merge_inputs, args.repeats),
        prefill_ms=prefill * 1e3, decode_ms_per_token=decode_tok * 1e3,
        caption_s_b1=vision_ms / 1e3 + total, batch=1, captions_per_s=0.0, batch_caption_s=0.0, peak_mem_gb=peak_b1,
        roofline_caption_s_b1=caption_seconds(ctx, args.new_tokens, card),
    )
    row.fused_merge_identical, row.fused_merge_max_abs_diff = check_fused_merge(*merge_inputs)
    del merge_inputs  # ~1 GB of random activations at 16 frames: free them before the batch search
    sheet = Card.datasheet(card.name)
    if sheet is not None:
        row.datasheet_roofline_caption_s_b1 = caption_seconds(ctx, args.new_tokens, sheet)

    # Largest batch whose KV cache fits next to the weights (0.5 MiB/token, cache rounded to 256).
    decoder.release()
    gc.collect()
    torch.cuda.empty_cache()
    free = (torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 4e9) - args.headroom_gb * 1e9
    per_seq = LlmShape(bytes_per_param=model.dtype.itemsize).kv_bytes_per_token * (-(-(ctx + args.new_tokens) // 256) * 256)
    batch = max(1, min(args.max_batch, int(max(free, 0) // per_seq)))
    while batch >= 1:
        try:
            _reset_peak(device)
            video_pixels = torch.cat([pixels] * batch)
            batch_vision_ms = _median_ms(lambda video_pixels=video_pixels: encoder(video_pixels, ratio), 1, 1)
            seqs = [seq] * batch
            # Compile the step for this batch shape first (a one-off per process); the timed run still
            # includes capturing its CUDA graph (conservative by a fraction of a second).
            _generate_static(decoder, seqs, 2, vocab)
            _, batch_total = _generate_static(decoder, seqs, args.new_tokens, vocab)
            row.batch = batch
            row.batch_caption_s = batch_vision_ms / 1e3 + batch_total
            row.captions_per_s = batch / row.batch_caption_s
            row.peak_mem_gb = max(peak_b1, _peak_gb(device))
            row.roofline_captions_per_s = batch / caption_seconds(ctx, args.new_tokens, card, batch=batch)
        except torch.OutOfMemoryError:
            row.notes.append(f"batch {batch} out of memory")
        else:
            break
        # Free outside the except clause: the exception's traceback holds the failed call's frames and
        # their tensors, so memory released inside it stays allocated (the next try got less room).
        video_pixels = None
        decoder.release()
        gc.collect()
        torch.cuda.empty_cache()
        batch = batch * 4 // 5  # the estimate was a little optimistic: shrink gently, not by half
    decoder.release()  # free the batch cache before the baseline runs
    torch.cuda.empty_cache()

    if baseline is not None:
        row.baseline_ttft_ms = baseline.ttft_s * 1e3
        row.baseline_caption_s = baseline.caption_s
        row.baseline_decode_ms_per_token = (baseline.caption_s - baseline.ttft_s) / (args.new_tokens - 1) * 1e3
        row.baseline_peak_mem_gb = baseline.peak_gb
        base_tokens = baseline.tokens
        same = (base_tokens == fast_tokens[: len(base_tokens)]).long()
        row.tokens_match_baseline = first = int(same.cumprod(0).sum())  # length of the identical prefix
        if first < len(base_tokens):
            # How close the baseline itself was to choosing our token there: fp16 near-ties flip.
            logits = baseline.scores[first].float()
            row.divergence_logit_gap = float(logits[base_tokens[first]] - logits[fast_tokens[first]])
            row.divergence_top_logit = float(logits.max())
    return row


def markdown(rows: list[Row], card: Card, meta: dict) -> str:
    lines = [
        f"# AuroraCap-7B captioning speed ({meta['device']}, {meta['dtype']}, {meta['new_tokens']} new tokens)",
        "",
        f"Measured ceilings: copy {card.bandwidth / 1e12:.2f} TB/s, bf16 matmul {card.flops / 1e12:.0f} TFLOP/s. "
        "Random weights in AuroraCap-7B geometry; generation forced to a fixed length. "
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
    card = measure_card(device) if device.type == "cuda" else Card("cpu (smoke run, no roofline)", 1e10, 1e11)
    meta = {"device": card.name, "dtype": args.dtype, "new_tokens": args.new_tokens,
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "card": asdict(card)}
    torch.cuda.empty_cache() if device.type == "cuda" else None
    print(f"[bench] {meta}", flush=True)
    t0 = time.perf_counter()
    model = build_model(device, dtype, args.size)
    print(f"[bench] model built in {time.perf_counter() - t0:.1f}s", flush=True)
    generator = torch.Generator().manual_seed(0)
    configs = [make_inputs(model, int(f), float(r), args, generator)
               for f in args.frames.split(",") for r in args.ratios.split(",")]
    baselines: dict[int, Baseline] = {}
    if args.baseline:  # all of them before the fast path compiles or captures anything
        llava = build_llava(model, model.language_model.config.vocab_size - 1)
        for i, inp in enumerate(configs):
            baselines[i] = measure_baseline(model, llava, inp, args)
            print(f"[bench] baseline {inp.frames} frames, ratio {inp.ratio}: {baselines[i].caption_s:.2f} s", flush=True)
        llava = None
        gc.collect()
    decoder = StaticKVDecoder(model.language_model)
    encoder = GraphedFrameEncoder(model) if device.type == "cuda" else model.encode_frames
    rows = []
    for i, inp in enumerate(configs):
        t0 = time.perf_counter()
        row = bench_config(model, encoder, decoder, inp, baselines.get(i), args, card)
        rows.append(row)
        print(f"[bench] {json.dumps(asdict(row))} ({time.perf_counter() - t0:.0f}s)", flush=True)
        (args.out / "gpu_bench.json").write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2))
    table = markdown(rows, card, meta)
    (args.out / "gpu_bench.md").write_text(table)
    print(table)
    return 0
