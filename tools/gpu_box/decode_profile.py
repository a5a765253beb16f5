"""Where a decode step's time goes on one GPU, SDPA vs the split-K kernel, and what a fresh process spends
before its first decode step.

On AuroraCap-7B-shaped random weights (fp16), with a real prompt (``--frames``, ``--ratio``):

* ``check``: the split-K kernel (``decode_attention.py``) against SDPA over the decoder's mask, computed
  in float64, on the decode shapes (32 heads, head_dim 128) with random ragged lengths (1 and
  ``max_len`` included), fp16 / bf16 / fp32; relative error ‖got − ref‖ / ‖ref‖;
* ``attention``: one layer's decode attention, SDPA (all ``max_len`` columns under the mask) vs split-K
  (valid columns only), median ms and the valid-KV bandwidth it reaches;
* ``step``: the whole captured decode step (graph replays), ms per step, attention over the whole cache
  and over the decoder's span, against the floor (weights + valid KV at the measured copy rate);
  per-kernel table of a few eager steps (``profile_*.txt``);
* ``prefill``: one request's prefill ms (time to its first token), and its per-kernel table;
* ``startup`` (``--startup``, its own process): the first vision encode, first prefill and first graph
  capture against the second of each (compilation, cache loads and capture are the difference).

    python -m gpu_box.decode_profile --out DIR [--startup | --quick --backends sdpa]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from vdc_bench.gpu_bench.inputs import build_model, make_inputs
from vdc_bench.gpu_bench.roofline import decode_step_seconds
from vdc_bench.gpu_bench.run import measure_card
from vdc_bench.models.auroracap.decode_attention import decode_attention
from vdc_bench.models.auroracap.graphed_vision import GraphedFrameEncoder
from vdc_bench.models.auroracap.static_decode import DecodeRequest, StaticKVDecoder, attention_span


def median_ms(fn, repeats: int = 20, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _lengths(batch: int, max_len: int, low: int, high: int, g: torch.Generator) -> torch.Tensor:
    lengths = torch.randint(low, high + 1, (batch,), generator=g)
    if batch > 1:
        lengths[0], lengths[-1] = 1, max_len
    return lengths


def check_kernel(device) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    rows = []
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for batch, max_len in ((1, 4096), (3, 1000), (16, 6400)):
            q = torch.randn(batch, 1, 32, 128, generator=g).to(device, dtype).transpose(1, 2)
            kv = torch.randn(2, batch, 32, max_len, 128, generator=g).to(device, dtype)
            lengths = _lengths(batch, max_len, 1, max_len, g).to(device)
            got = decode_attention(q, kv[0], kv[1], lengths, 128**-0.5)
            mask = torch.where(torch.arange(max_len, device=device)[None] < lengths[:, None], 0.0, -torch.inf)
            ref = F.scaled_dot_product_attention(q.double(), kv[0].double(), kv[1].double(), scale=128**-0.5,
                                                 attn_mask=mask[:, None, None, :].double())
            err = float((got.double() - ref).norm() / ref.norm())
            rows.append({"dtype": str(dtype), "batch": batch, "max_len": max_len, "rel_err": err,
                         "finite": bool(torch.isfinite(got).all())})
    return rows


def attention_times(device, ctx: int) -> list[dict]:
    g = torch.Generator().manual_seed(2)
    rows = []
    kv_per_col = 2 * 32 * 128 * 2  # one layer, fp16, K and V
    for batch, max_len, low, high in ((1, 6400, ctx + 150, ctx + 150), (16, 6400, ctx, ctx + 300)):
        q = torch.randn(batch, 1, 32, 128, generator=g).to(device, torch.float16).transpose(1, 2)
        kv = torch.randn(2, batch, 32, max_len, 128, generator=g).to(device, torch.float16)
        lengths = torch.randint(low, high + 1, (batch,), generator=g).to(device)
        bias = torch.where(torch.arange(max_len, device=device)[None] < lengths[:, None], 0.0, -torch.inf)
        bias = bias.to(torch.float16)[:, None, None, :]
        sdpa = median_ms(partial(F.scaled_dot_product_attention, q, kv[0], kv[1], attn_mask=bias, scale=128**-0.5))
        split = median_ms(partial(decode_attention, q, kv[0], kv[1], lengths, 128**-0.5))
        valid = int(lengths.sum()) * kv_per_col
        rows.append({"batch": batch, "max_len": max_len, "mean_length": float(lengths.float().mean()),
                     "sdpa_ms": sdpa, "split_k_ms": split, "valid_kv_mb": valid / 1e6,
                     "sdpa_valid_tb_s": valid / sdpa / 1e9, "split_k_tb_s": valid / split / 1e9,
                     "sdpa_all_columns_tb_s": batch * max_len * kv_per_col / sdpa / 1e9})
    return rows


def _fill(decoder: StaticKVDecoder, seq: torch.Tensor, batch: int, new_tokens: int, vocab: int):
    """Buffers for ``batch`` rows of ``seq`` with room for ``new_tokens``, every row prefilled."""
    request = DecodeRequest(seq, new_tokens)
    decoder._eos = vocab  # never sampled
    buf = decoder._ensure_buffers(batch, *decoder._sizes(request))
    buf.finished.fill_(True)
    for row in range(batch):
        decoder._admit(row, request)
    return buf


def _profile_table(fn, path: Path, steps: int) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    path.write_text(prof.key_averages().table(sort_by="device_time_total", row_limit=40, max_name_column_width=90))
    total = sum(e.self_device_time_total for e in events)
    top = sorted(events, key=lambda e: -e.self_device_time_total)[:12]
    return [{"kernel": e.key[:90], "share": round(e.self_device_time_total / total, 4),
             "ms_per_call_group": round(e.self_device_time_total / steps / 1e3, 3)} for e in top]


VARIANTS = [dict(block_n=b, num_warps=w, target=t) for b in (32, 64, 128) for w in (4, 8) for t in (512, 2048)] + [
    dict(max_split_blocks=c) for c in (4, 64)] + [dict(num_stages=s) for s in (1, 2)] + [{}]


def kernel_variants(device, ctx: int) -> list[dict]:
    """Launch settings of the split-K kernel on the two decode shapes, median ms each ({} = the defaults)."""
    g = torch.Generator().manual_seed(3)
    rows = []
    for batch, max_len, low, high in ((1, 6400, ctx + 150, ctx + 150), (16, 6400, ctx, ctx + 300)):
        q = torch.randn(batch, 1, 32, 128, generator=g).to(device, torch.float16).transpose(1, 2)
        kv = torch.randn(2, batch, 32, max_len, 128, generator=g).to(device, torch.float16)
        lengths = torch.randint(low, high + 1, (batch,), generator=g).to(device)
        valid = int(lengths.sum()) * 2 * 32 * 128 * 2
        for variant in VARIANTS:
            ms = median_ms(partial(decode_attention, q, kv[0], kv[1], lengths, 128**-0.5, **variant))
            rows.append({"batch": batch, "variant": variant, "ms": ms, "valid_tb_s": valid / ms / 1e9})
            print(f"[variant] b{batch} {variant}: {ms:.4f} ms, {valid / ms / 1e9:.2f} TB/s", flush=True)
    return rows


def _span(buf, steps: int) -> int:
    """The attention span the decoder would choose for the next ``steps`` steps (all rows live)."""
    return attention_span(int((buf.column + 1).max()) + steps, buf.max_len)


def step_times(model, seq, batches: list[int], new_tokens: int, card, out: Path, backends: list[str],
               best: dict) -> list[dict]:
    """Graph replays of a step per backend and batch: attention over the whole cache (``full``, as before
    spans) and over the span the decoder picks (``span``)."""
    lm = model.language_model
    vocab = lm.config.vocab_size
    rows = []
    steps = 64
    for backend in backends:
        decoder = None
        gc.collect()  # one decoder at a time: each holds packed copies of the projection weights
        torch.cuda.empty_cache()
        decoder = StaticKVDecoder(lm, attention=backend)
        if backend == "triton" and best:
            decoder._split_k = partial(decode_attention, **best)
        for batch in batches:
            buf = _fill(decoder, seq, batch, new_tokens, vocab)
            contexts = (buf.column + 1).sum().item() + batch * (steps + 2) // 2  # mean over the timed steps
            floor_ms = decode_step_seconds([contexts], card) * 1e3
            for read, span in (("full", buf.max_len), ("span", _span(buf, steps + 2))):
                with buf.bookkeeping_kept():
                    ms = median_ms(decoder._capture(span).replay, repeats=steps, warmup=2)
                rows.append({"backend": backend, "batch": batch, "read": read, "span": span, "max_len": buf.max_len,
                             "kernel_settings": best if backend == "triton" else None, "ms_per_step": ms,
                             "floor_ms": floor_ms, "ratio": ms / floor_ms, "mean_context": contexts / batch})
                print(f"[step] {backend} b{batch} {read} ({span} of {buf.max_len} columns): {ms:.3f} ms "
                      f"(floor {floor_ms:.3f}, x{ms / floor_ms:.3f})", flush=True)
            rows[-1]["top_kernels_eager"] = _profile_table(partial(decoder._decode_step, _span(buf, 3)),
                                                           out / f"profile_step_{backend}_b{batch}.txt", 3)
            decoder.release()
            torch.cuda.empty_cache()
    return rows


def prefill_times(model, seq, out: Path) -> dict:
    lm = model.language_model
    decoder = StaticKVDecoder(lm)
    _fill(decoder, seq, 1, 16, lm.config.vocab_size)
    request = DecodeRequest(seq, 16)
    times = [decoder._admit(0, request) * 1e3 for _ in range(5)]
    top = _profile_table(lambda: decoder._admit(0, request), out / "profile_prefill.txt", 1)
    decoder.release()
    return {"context": int(seq.shape[0]), "prefill_ms": statistics.median(times), "top_kernels": top}


def _cpu_table(fn, path: Path) -> None:
    """Host-side profile of one call (where a first call's seconds go), by total CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
        torch.cuda.synchronize()
    path.write_text(prof.key_averages().table(sort_by="cpu_time_total", row_limit=45, max_name_column_width=90))


def startup(model, inp, batch: int, new_tokens: int, profile_dir: Path | None) -> dict:
    """First vs second: vision encode, prefill, graph capture (decode-step compile included); a prefill
    of another length. With ``profile_dir``, the first vision encode and first prefill are profiled."""
    lm = model.language_model
    encoder = GraphedFrameEncoder(model)
    out = {}
    for name in ("first", "second"):
        t0 = time.perf_counter()
        if name == "first" and profile_dir:
            _cpu_table(lambda: encoder(inp.pixels, inp.ratio), profile_dir / "startup_vision_first.txt")
        tokens = encoder(inp.pixels, inp.ratio)
        torch.cuda.synchronize()
        out[f"vision_{name}_s"] = time.perf_counter() - t0
    seq = model.embed_inputs([inp.ids], [list(tokens)])[0][0]
    decoder = StaticKVDecoder(lm)
    request = DecodeRequest(seq, new_tokens)
    decoder._eos = lm.config.vocab_size
    buf = decoder._ensure_buffers(batch, *decoder._sizes(request))
    buf.finished.fill_(True)
    t0 = time.perf_counter()
    if profile_dir:
        _cpu_table(lambda: decoder._admit(0, request), profile_dir / "startup_prefill_first.txt")
    else:
        decoder._admit(0, request)
    out["prefill_first_s"] = time.perf_counter() - t0
    out["prefill_second_s"] = decoder._admit(1, request)
    out["prefill_other_length_s"] = decoder._admit(2, DecodeRequest(seq[:-37], new_tokens))
    out["prefill_other_length_second_s"] = decoder._admit(3, DecodeRequest(seq[:-37], new_tokens))
    for name in ("first", "second"):
        t0 = time.perf_counter()
        decoder._capture(_span(buf, 8))
        torch.cuda.synchronize()
        out[f"capture_{name}_s"] = time.perf_counter() - t0
    return {k: round(v, 3) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_box.decode_profile", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--ratio", type=float, default=0.4)
    p.add_argument("--batches", default="1,16")
    p.add_argument("--new-tokens", type=int, default=1024, help="room in the cache (as the adapter sizes it)")
    p.add_argument("--backends", default="sdpa,triton", help="decode attention backends of the step timings")
    p.add_argument("--quick", action="store_true", help="only the step timings: no kernel check, variants or prefill")
    p.add_argument("--startup", action="store_true", help="only the first-vs-second timings (a fresh process)")
    p.add_argument("--sdpa-backends", default="", help="with --startup: restrict SDPA to these (e.g. flash,efficient)")
    p.add_argument("--profile-first", action="store_true", help="with --startup: host profile of the first calls")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda")
    model = build_model(device, torch.float16)
    inp = make_inputs(model, a.frames, a.ratio, 40)
    if a.startup:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backends = [getattr(SDPBackend, {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "math": "MATH",
                                         "cudnn": "CUDNN_ATTENTION"}[b]) for b in a.sdpa_backends.split(",") if b]
        with torch.inference_mode(), sdpa_kernel(backends) if backends else contextlib.nullcontext():
            result = {"startup": startup(model, inp, 16, a.new_tokens, a.out if a.profile_first else None),
                      "sdpa_backends": a.sdpa_backends or "all"}
        name = f"startup_{a.sdpa_backends.replace(',', '_') or 'all'}{'_profiled' if a.profile_first else ''}"
    else:
        card = measure_card(device)
        with torch.inference_mode():
            seq = model.embed_inputs([inp.ids], [list(model.encode_frames(inp.pixels, inp.ratio))])[0][0]
            result = {"card": card.__dict__, "context": int(seq.shape[0])}
            backends = a.backends.split(",")
            best = {16: {}}
            if not a.quick:
                result |= {"check": check_kernel(device), "attention": attention_times(device, int(seq.shape[0]))}
                print(json.dumps(result, indent=1), flush=True)
                torch.cuda.empty_cache()
                result["prefill"] = prefill_times(model, seq, a.out)
            if "triton" in backends and not a.quick:
                result["variants"] = kernel_variants(device, int(seq.shape[0]))
                for batch in (1, 16):  # the settings best at the batch that weighs more in a run: 16
                    mine = [r for r in result["variants"] if r["batch"] == batch]
                    best[batch] = min(mine, key=lambda r: r["ms"])["variant"]
                result["best_variant"] = {str(k): v for k, v in best.items()}
            torch.cuda.empty_cache()
            result["step"] = step_times(model, seq, [int(b) for b in a.batches.split(",")], a.new_tokens, card, a.out,
                                        backends, best[16])
        name = "profile"
    result["versions"] = {"torch": torch.__version__, "device": torch.cuda.get_device_name(device)}
    (a.out / f"decode_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))
    bad = [r for r in result.get("check", []) if not r["finite"] or r["rel_err"] > (1e-5 if "32" in r["dtype"] else 1e-2)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
