"""How fast each of a Llama-7B decode step's projections streams its weights on one GPU, per way of calling
cuBLAS: ``F.linear`` (what the decoder does), or the reduction dimension cut into ``s`` slices run as one
batched product whose partial sums (fp16, or fp32 via ``out_dtype``) a later element-wise kernel adds.

Each variant is captured 20 times in a CUDA graph (as the decoder replays its step); median µs per call
over replays, and the weight bytes per second that makes.

    python -m gpu_box.gemv_shapes --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from gpu_box.decode_profile import median_ms
from vdc_bench.gpu_bench.run import capture_graph

SHAPES = {"qkv": (12288, 4096), "o": (4096, 4096), "gate_up": (22016, 4096), "down": (4096, 11008)}


def _graph_us(fn, calls: int = 20, replays: int = 30) -> float:
    return median_ms(capture_graph(fn, calls, warmup=3).replay, repeats=replays, warmup=1) * 1e3 / calls


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_box.gemv_shapes", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--batches", default="1,16")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator(device="cuda").manual_seed(0)
    rows = []
    with torch.inference_mode():
        for name, (n, k) in SHAPES.items():
            w = torch.randn(n, k, device="cuda", dtype=torch.float16, generator=g) * 0.02
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
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}
    (a.out / "gemv_shapes.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
