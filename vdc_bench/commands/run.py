"""``vdc-bench run``: lmms-eval with the suite's defaults (offline, UTC, samples logged, files checked)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from vdc_bench.commands.option_types import positive_float, positive_int
from vdc_bench.runs.lmms_runner import run_lmms_eval


def register(sub) -> None:
    p = sub.add_parser("run", help="run an lmms-eval evaluation and check that it wrote its results")
    p.add_argument("--model", default="auroracap")
    p.add_argument("--model_args", default="")
    p.add_argument("--tasks", required=True, help="comma-separated, e.g. vdc or vdc_demo")
    p.add_argument("--output_path", default="runs", type=Path)
    p.add_argument("--batch_size", type=positive_int, default=1)
    p.add_argument("--limit", type=positive_float, default=None)
    p.add_argument("--gen_kwargs", default=None)
    p.add_argument("--predict_only", action="store_true", help="generate captions now, score later")
    p.add_argument("--nproc", type=positive_int, default=1, help="data-parallel processes (torchrun)")
    p.set_defaults(func=run)


def run(args) -> int:
    result = run_lmms_eval(
        args.model,
        args.model_args,
        args.tasks.split(","),
        args.output_path,
        batch_size=args.batch_size,
        limit=args.limit,
        gen_kwargs=args.gen_kwargs,
        predict_only=args.predict_only,
        nproc=args.nproc,
        echo=True,
    )
    print(f"results: {result.results_path}")
    for task, path in sorted(result.samples.items()):
        print(f"samples[{task}]: {path}")
    # The VDC aggregation reports a judge it could not use as NaN (not 0): that run has no score.
    missing = sorted(
        f"{task} {metric.split(',')[0]}"
        for task, metrics in (result.results().get("results") or {}).items()
        for metric, value in metrics.items()
        if metric.startswith("vdc_") and isinstance(value, float) and math.isnan(value)
    )
    if missing and not args.predict_only:
        print(f"vdc-bench run: error: no VDCscore for {', '.join(missing)} (NaN: the judge failed; see the log above); "
              f"score the samples again with `vdc-bench score {args.output_path}`", file=sys.stderr)
        return 1
    return 0
