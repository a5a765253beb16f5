"""``vdc-bench run``: lmms-eval with the suite's defaults (offline, UTC, samples logged, files checked)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from vdc_bench.commands.launch_options import add_launch_options, check_launch_options
from vdc_bench.commands.option_types import positive_float
from vdc_bench.dataset.settings import ENV, parse_shard
from vdc_bench.errors import VdcBenchError
from vdc_bench.runs.lmms_runner import caption_cache_env, run_lmms_eval

SHARD_ENV = ENV["shard"]


def register(sub) -> None:
    p = sub.add_parser("run", help="run an lmms-eval evaluation and check that it wrote its results")
    p.add_argument("--model", default="auroracap", help="lmms-eval model name")
    p.add_argument("--model_args", default="", help="lmms-eval model arguments, k=v,k=v")
    p.add_argument("--tasks", required=True, help="comma-separated, e.g. vdc or vdc_demo")
    p.add_argument("--output_path", default="runs", type=Path, help="lmms-eval output folder")
    p.add_argument("--limit", type=positive_float, default=None, help="lmms-eval --limit: samples per task (or a fraction)")
    p.add_argument("--gen_kwargs", default=None, help="lmms-eval generation arguments, e.g. max_new_tokens=1024")
    p.add_argument("--predict_only", action="store_true", help="generate captions now, score later")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="caption only docs i, i+N, ... of each dimension (a predict-only cluster job; "
                        "score all N shard folders together with `vdc-bench score`)")
    p.add_argument("--timeout", type=positive_float, default=None, help="seconds; past it every process is killed")
    add_launch_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_launch_options(args)
    env = caption_cache_env(args.output_path, args.caption_cache)
    if args.shard is not None:
        parse_shard(args.shard)
        if not args.predict_only:
            raise VdcBenchError("--shard needs --predict_only: a shard's VDCscore would cover only its share of the "
                                "videos; score the shard folders together with `vdc-bench score`")
        env[SHARD_ENV] = args.shard
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
        launcher=args.launcher,
        extra_args=args.lmms_args,
        timeout=args.timeout,
        echo=True,
        env=env,
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
