"""Options shared by the commands that start lmms-eval (run, sweep, demo): batch size, processes, launcher,
and further lmms-eval flags after ``--``."""

from __future__ import annotations

import argparse

from vdc_bench.commands.option_types import positive_int
from vdc_bench.errors import VdcBenchError
from vdc_bench.runs.lmms_runner import LAUNCHERS, check_extra_args


def add_launch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch_size", type=positive_int, default=1, help="captions per batch, per process")
    p.add_argument("--nproc", type=positive_int, default=1, help="data-parallel processes on this node (one per GPU)")
    p.add_argument("--launcher", choices=LAUNCHERS, default="torchrun",
                   help="how several processes start (one process needs none with torchrun)")
    p.add_argument("--no-caption-cache", dest="caption_cache", action="store_false",
                   help="neither store nor reuse finished captions (default: kept in <output>/caption_cache, or "
                        "$VDC_CAPTION_CACHE, so a re-run after a crash generates only the missing ones)")
    p.add_argument("lmms_args", nargs="*", metavar="-- LMMS_EVAL_FLAGS",
                   help="further lmms-eval flags after '--', e.g. -- --wandb_args project=vdc --seed 1")


def check_launch_options(args: argparse.Namespace) -> None:
    """Validate before any work starts."""
    if args.batch_size < 1:
        raise VdcBenchError(f"--batch_size must be >= 1, got {args.batch_size}")
    if args.nproc < 1:
        raise VdcBenchError(f"--nproc must be >= 1, got {args.nproc}")
    check_extra_args(args.lmms_args)
