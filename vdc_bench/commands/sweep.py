"""``vdc-bench sweep``: evaluate several token_kept_ratio settings, resumably, then plot and report."""

from __future__ import annotations

from pathlib import Path

from vdc_bench.commands.launch_options import add_launch_options, check_launch_options
from vdc_bench.commands.option_types import positive_float
from vdc_bench.errors import VdcBenchError
from vdc_bench.runs.sweep import DEFAULT_RATIOS, SweepConfig, run_sweep


def _ratios(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise VdcBenchError(f"--ratios: {text!r} is not a comma-separated list of numbers") from err


def register(sub) -> None:
    p = sub.add_parser("sweep", help="one lmms-eval evaluation per token_kept_ratio, then plots and a report")
    p.add_argument("--model", default="auroracap", help="lmms-eval model name")
    p.add_argument("--model_args", default="", help="k=v,... without token_kept_ratio (the sweep sets it)")
    p.add_argument("--ratios", default=",".join(f"{r:g}" for r in DEFAULT_RATIOS), help="comma-separated token_kept_ratio settings")
    p.add_argument("--tasks", default="vdc",
                   help="comma-separated lmms-eval tasks/groups, VDC and standard ones, e.g. vdc or auroracap_paper")
    p.add_argument("--output", type=Path, required=True, help="sweep folder (re-use it to resume)")
    p.add_argument("--limit", type=positive_float, default=None, help="lmms-eval --limit (per task; per dimension for VDC)")
    p.add_argument("--gen_kwargs", default=None, help="lmms-eval generation arguments, e.g. max_new_tokens=1024")
    p.add_argument("--judge-base-url", default=None,
                   help="OpenAI-compatible judge URL (default: VDC_JUDGE_* environment, else the embedded judge)")
    p.add_argument("--judge-model", default=None, help="model name the judge server expects")
    p.add_argument("--demo", action="store_true", help="mark results as demo (tiny random model)")
    p.add_argument("--timeout", type=positive_float, default=None, help="seconds per ratio")
    p.add_argument("--no-report", action="store_true", help="skip plots and the HTML report")
    p.add_argument("--echo", action="store_true", help="stream lmms-eval output")
    add_launch_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_launch_options(args)
    config = SweepConfig(
        output=args.output,
        ratios=_ratios(args.ratios),
        model=args.model,
        model_args=args.model_args,
        tasks=[t for t in args.tasks.split(",") if t],
        limit=args.limit,
        gen_kwargs=args.gen_kwargs,
        judge_base_url=args.judge_base_url,
        judge_model=args.judge_model,
        kind="demo" if args.demo else "run",
        timeout_s=args.timeout,
        echo=args.echo,
        batch_size=args.batch_size,
        nproc=args.nproc,
        launcher=args.launcher,
        lmms_args=list(args.lmms_args),
        caption_cache=args.caption_cache,
    )
    path = run_sweep(config)
    print(f"sweep: {path}")
    if not args.no_report:
        from vdc_bench.reporting.report import write_report  # matplotlib only when a report is wanted

        write_report(config.output)
        print(f"report: {config.output / 'report.html'}\nplots: {config.output / 'plots'}")
    return 0
