"""How fast each of a Llama-7B decode step's projections streams its weights on one GPU, per way of calling
it: cuBLAS through ``F.linear`` (what the decoder does for a batch of several rows), or the reduction
dimension cut into ``s`` slices run as one batched product whose partial sums (fp16, or fp32 via
``out_dtype``) a later element-wise kernel adds; and, at batch 1, ``decode_gemv.py``'s fused kernels (norm,
RoPE / SiLU / residual included) at each launch setting of ``--fused`` (``best`` picks per kernel).

Each variant is captured 20 times in a CUDA graph (as the decoder replays its step); median µs per call
over replays, and the weight bytes per second that makes. Fused kernels are checked against the decoder's
torch layer functions (relative error).

    python -m gpu_box.gemv_shapes --out DIR [--fused]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from gpu_box.decode_profile import median_ms
from vdc_bench.models.auroracap import decode_gemv as dg
from vdc_bench.models.auroracap.cuda_graph import capture
from vdc_bench.models.auroracap.static_decode import _rms_norm, attention_inputs

SHAPES = {"qkv": (12288, 4096), "o": (4096, 4096), "gate_up": (22016, 4096), "down": (4096, 11008)}
KERNEL = {"qkv": "qkv_rope", "o": "gemv_residual", "gate_up": "gate_up_silu", "down": "gemv_residual"}
# (rows, K block) pairs whose fp32 accumulators fit the registers of 4 warps, times warps and pipeline stages
FUSED_LAUNCHES = [dg.Launch(n, k, w, s) for n, k in ((4, 512), (4, 1024), (8, 256), (8, 512), (16, 256), (16, 512))
                  for w in (4, 8) for s in (3,)]


def _graph_us(fn, calls: int = 20, replays: int = 30) -> float:
    return median_ms(capture(fn, warmup=3, calls=calls)[0].replay, repeats=replays, warmup=1) * 1e3 / calls


def variants(x: torch.Tensor, w: torch.Tensor) -> dict:
    n, k = w.shape
    out = {"linear": lambda: F.linear(x, w)}
    for s in (2, 3, 4):
        if k % s:
            continue
        xs = x.view(x.shape[0], s, k // s).transpose(0, 1)  # (s, M, K/s)
        ws = w.view(n, s, k // s).permute(1, 2, 0)  # (s, K/s, N), each slice a transposed view of W's columns
        out[f"bmm{s}_f16"] = lambda xs=xs, ws=ws: torch.bmm(xs, ws)
        out[f"bmm{s}_f16+sum"] = lambda xs=xs, ws=ws: torch.bmm(xs, ws).sum(0)
        out[f"bmm{s}_f32"] = lambda xs=xs, ws=ws: torch.bmm(xs, ws, out_dtype=torch.float32)
        out[f"bmm{s}_f32+sum"] = lambda xs=xs, ws=ws: torch.bmm(xs, ws, out_dtype=torch.float32).sum(0)
    return out


def fused(name: str, w: torch.Tensor, g: torch.Generator) -> tuple:
    """(call(launch), the decoder's torch result it must equal) for one shape's fused kernel at batch 1."""
    n, k = w.shape
    dev, dtype = w.device, w.dtype
    x = torch.randn(1, 1, k, device=dev, dtype=dtype, generator=g)
    ln = (1 + 0.2 * torch.randn(k, device=dev, generator=g)).to(dtype)
    if name == "qkv":
        heads, d = 32, 128
        angle = 1000 * torch.rand(1, 1, d // 2, device=dev, generator=g)
        cos, sin = (torch.cat((f(angle), f(angle)), -1).to(dtype) for f in (torch.cos, torch.sin))
        cache, column = torch.zeros(2, 1, heads, 4096, d, device=dev, dtype=dtype), torch.tensor([1000], device=dev)
        want, _ = attention_inputs(x, cos, sin, ln, w, 1e-5, d, heads * d, heads * d, cache=cache.clone(),
                                   slot=(torch.tensor([0], device=dev), column))
        return lambda launch: dg.qkv_rope(x, ln, w, cos, sin, cache, column, 1e-5, heads, heads, launch), want
    if name == "gate_up":
        gate, up = F.linear(_rms_norm(x, ln, 1e-5), w).chunk(2, dim=-1)
        return lambda launch: dg.gate_up_silu(x, ln, w, 1e-5, launch), F.silu(gate) * up
    a = torch.randn(1, 1, k, device=dev, dtype=dtype, generator=g)
    return lambda launch: dg.gemv_residual(x[..., :n], a, w, launch), x[..., :n] + F.linear(a, w)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_box.gemv_shapes", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batches", default="1,16")
    p.add_argument("--fused", action="store_true", help="also the fused batch-1 kernels at each launch setting")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator(device="cuda").manual_seed(0)
    rows, best = [], {}
    with torch.inference_mode():
        for name, (n, k) in SHAPES.items():
            w = torch.randn(n, k, device="cuda", dtype=torch.float16, generator=g) * k ** -0.5
            for m in (int(b) for b in a.batches.split(",")):
                x = torch.randn(m, k, device="cuda", dtype=torch.float16, generator=g)
                ref = F.linear(x.float(), w.float())
                for variant, fn in variants(x, w).items():
                    got = fn()
                    got = got.float().sum(0) if got.dim() == 3 else got.float()
                    us = _graph_us(fn)
                    row = {"shape": name, "n": n, "k": k, "batch": m, "variant": variant, "us": round(us, 2),
                           "weight_tb_s": round(n * k * 2 / us / 1e6, 3),
                           "max_rel_err": float((got - ref).abs().max() / ref.abs().max())}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            if not a.fused:
                continue
            call, want = fused(name, w, g)
            for launch in FUSED_LAUNCHES:
                got = call(launch)
                us = _graph_us(lambda call=call, launch=launch: call(launch))
                row = {"shape": name, "n": n, "k": k, "batch": 1, "variant": f"fused {KERNEL[name]}",
                       "launch": vars(launch), "us": round(us, 2), "weight_tb_s": round(n * k * 2 / us / 1e6, 3),
                       "rel_err": float((got.double() - want.double()).norm() / want.double().norm())}
                rows.append(row)
                print(json.dumps(row), flush=True)
                kernel_us = best.setdefault(KERNEL[name], {})
                kernel_us[launch] = kernel_us.get(launch, 0.0) + us  # o and down share a kernel: their sum
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}
    if best:
        result["best_launch"] = {kernel: vars(min(us, key=us.get)) for kernel, us in best.items()}
        print("best launch:", json.dumps(result["best_launch"]), flush=True)
    (a.out / "gemv_shapes.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
