"""The GPU benchmark's options (no torch import: the ``vdc-bench`` CLI builds its parser from them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vdc_bench.cli_options import deprecated_alias
from vdc_bench.models.auroracap.arg_names import BATCH1_KERNELS

BASELINE_KINDS = ("dynamic", "static-compiled")


def _baseline_kinds(text: str) -> str:
    unknown = [k for k in text.split(",") if k not in BASELINE_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown baseline kind(s) {unknown}; known: {', '.join(BASELINE_KINDS)}")
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", dest="out", metavar="DIR", type=Path, required=True, help="folder for gpu_bench.json and gpu_bench.md")
    p.add_argument("--frames", default="16,8", help="comma-separated frame counts")
    p.add_argument("--ratios", default="0.1,0.2,0.4,1.0", help="comma-separated token_kept_ratio settings")
    p.add_argument("--new-tokens", type=int, default=300, help="generation is forced to exactly this length")
    p.add_argument("--text-tokens", type=int, default=40, help="random text tokens before and after the frames")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"],
                   help="float32 (TF32 off) checks that fast and baseline paths give the same greedy tokens")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of the fast path (median)")
    p.add_argument("--baseline-repeats", type=int, default=1, help="timed repeats of the baseline (median)")
    p.add_argument("--decode-batch1", default="auto", choices=BATCH1_KERNELS,
                   help="a batch of one row decodes through the torch layer functions or the fused Triton kernels "
                        "(auto: fused on CUDA)")
    p.add_argument("--max-batch", type=int, default=64, help="upper bound of the batch search")
    p.add_argument("--headroom-gb", type=float, default=5.0, help="GPU memory the batch search leaves free")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip transformers generate")
    p.add_argument("--baseline-kinds", default=",".join(BASELINE_KINDS), type=_baseline_kinds,
                   help="transformers baselines, each run in a fresh process: dynamic, static-compiled")
    p.add_argument("--baseline-batch", type=int, default=8, help="batch of the batched baseline runs (ours too)")
    p.add_argument("--stream-requests", type=int, default=0,
                   help="requests with VDC-like caption lengths through static vs continuous batching (0: skip)")
    p.add_argument("--size", default="7b-shape", help="checkpoint shape; tiny-geometry for a CPU smoke run")
    deprecated_alias(p, "--out", "--output")
