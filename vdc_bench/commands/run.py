"""``vdc-bench run``: lmms-eval with the suite's defaults (offline, UTC, samples logged, files checked)."""

from __future__ import annotations

from pathlib import Path

from vdc_bench.runs.lmms_runner import run_lmms_eval


def register(sub) -> None:
    p = sub.add_parser("run", help="run an lmms-eval evaluation and check that it wrote its results")
    p.add_argument("--model", default="auroracap", help="lmms-eval model name")
    p.add_argument("--model_args", default="", help="lmms-eval model arguments, k=v,k=v")
    p.add_argument("--tasks", required=True, help="comma-separated, e.g. vdc or vdc_demo")
    p.add_argument("--output_path", default="runs", type=Path, help="lmms-eval output folder")
    p.add_argument("--batch_size", type=int, default=1, help="lmms-eval batch size")
    p.add_argument("--limit", type=float, default=None, help="lmms-eval --limit: samples per task (or a fraction)")
    p.add_argument("--gen_kwargs", default=None, help="lmms-eval generation arguments, e.g. max_new_tokens=1024")
    p.add_argument("--predict_only", action="store_true", help="generate captions now, score later")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel processes (torchrun)")
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
    return 0
