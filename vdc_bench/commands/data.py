"""``vdc-bench data``: pre-flight check of a VDC copy, the offline demo set, synthetic videos."""

from __future__ import annotations

import json
from pathlib import Path

from vdc_bench.cli_options import deprecated_alias
from vdc_bench.commands.option_types import positive_float, positive_int
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.loader import check_root
from vdc_bench.dataset.settings import DataSettings


def register(sub) -> None:
    p = sub.add_parser("data", help="check a VDC data folder, build the demo set or synthetic videos")
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    c = actions.add_parser("check", help="list layout, counts, defects and every missing video (exit 1 if any)")
    c.add_argument("--root", type=Path, default=None, help="data folder (default: $VDC_ROOT)")
    c.add_argument("--demo", action="store_true", help="check the demo set (materialised if needed)")
    c.add_argument("--json", action="store_true", help="full report as JSON")
    c.set_defaults(func=run_check)

    d = actions.add_parser("make-demo", help="download the demo videos and write the vdc_demo data set")
    d.add_argument("--root", type=Path, default=None, help="target folder (default: $VDC_DEMO_ROOT or ~/.cache/vdc-bench/demo)")
    d.set_defaults(func=run_make_demo)

    s = actions.add_parser("make-synthetic", help="write N synthetic videos + annotations in the VDC layout")
    s.add_argument("--n", type=positive_int, required=True, help="number of videos")
    s.add_argument("--output", dest="out", metavar="DIR", type=Path, required=True, help="data folder to write")
    s.add_argument("--seed", type=int, default=0, help="seed of the video content and annotations")
    s.add_argument("--width", type=positive_int, default=160, help="frame width in pixels")
    s.add_argument("--height", type=positive_int, default=120, help="frame height in pixels")
    s.add_argument("--fps", type=positive_int, default=8, help="frames per second")
    s.add_argument("--seconds", type=positive_float, default=3.0, help="video length")
    deprecated_alias(s, "--out", "--output")
    s.set_defaults(func=run_make_synthetic)

    from vdc_bench.dataset.builtin_tasks import BUILTIN_TASKS

    t = actions.add_parser("stage", help="put a local copy of a built-in lmms-eval task's data where the task reads it offline")
    t.add_argument("task", choices=sorted(BUILTIN_TASKS), help="the built-in lmms-eval task to stage")
    t.add_argument("--from", dest="source", type=Path, required=True,
                   help="local copy of the task's Hub data set (its parquet files, Hub repo layout)")
    t.add_argument("--videos", type=Path, default=None, help="folder holding the videos (video tasks)")
    t.set_defaults(func=run_stage)


def run_check(args) -> int:
    from vdc_bench.dataset.errors import DataNotFoundError

    if args.demo:
        from vdc_bench.dataset.demo import ensure_demo_root

        root = ensure_demo_root()
    else:
        root = args.root or DataSettings.resolve().root
        if root is None:
            raise DataNotFoundError("no data folder: pass --root DIR or set VDC_ROOT")
    reports = check_root(root)
    if args.json:
        print(json.dumps({dim: r.to_dict() for dim, r in reports.items()}, indent=2))
    else:
        print(f"VDC data at {root}")
        print(f"{'dimension':<12} {'layout':<13} {'videos':>6} {'QAs':>6} {'dup ids':>7} {'cap-no-QA':>9} {'QA-no-cap':>9} {'missing':>7}")
        for dim in DIMENSIONS:
            if dim not in reports:
                print(f"{dim:<12} (no QA file)")
                continue
            r = reports[dim]
            print(f"{dim:<12} {r.layout:<13} {r.n_docs + len(r.missing_videos):>6} {r.n_qa:>6} {len(r.duplicates):>7} "
                  f"{len(r.captions_without_qa):>9} {len(r.qa_without_captions):>9} {len(r.missing_videos):>7}")
        for r in reports.values():
            for dup in r.duplicates:
                print(f"  {r.dimension}: duplicate id {dup.video_id} on lines {dup.lines} of {dup.file} "
                      f"({'identical' if dup.identical else 'different'}; the last is kept)")
            if r.captions_without_qa:
                print(f"  {r.dimension}: caption but no QA (not evaluated): {', '.join(r.captions_without_qa)}")
            if r.qa_without_captions:
                print(f"  {r.dimension}: QA but no caption: {', '.join(r.qa_without_captions)}")
            if r.empty_qa:
                print(f"  {r.dimension}: empty QA list (not evaluated): {', '.join(r.empty_qa)}")
            if r.only_in_other_dimensions:
                print(f"  {r.dimension}: no QA for {len(r.only_in_other_dimensions)} video(s) the other dimensions "
                      f"have (not evaluated here): {', '.join(r.only_in_other_dimensions)}")
        missing = sorted({v for r in reports.values() for v in r.missing_videos})
        if missing:
            print(f"{len(missing)} missing video(s): {', '.join(missing)}")
    missing_any = any(r.missing_videos for r in reports.values()) or len(reports) < len(DIMENSIONS)
    return 1 if missing_any else 0


def run_make_demo(args) -> int:
    from vdc_bench.dataset.demo import ensure_demo_root

    print(ensure_demo_root(args.root))
    return 0


def run_make_synthetic(args) -> int:
    from vdc_bench.dataset.synthetic import make_synthetic_root

    root = make_synthetic_root(args.out, args.n, seed=args.seed, width=args.width, height=args.height,
                               fps=args.fps, seconds=args.seconds)
    print(f"{args.n} synthetic videos in {root} (use VDC_ROOT={root} with --tasks vdc)")
    return 0


def run_stage(args) -> int:
    from vdc_bench.dataset.hf_stage import hf_home, stage_task

    report = stage_task(args.task, args.source, args.videos)
    for table, rows in report.tables.items():
        print(f"{args.task}: {table}: {rows} rows")
    if report.videos:
        print(f"{args.task}: {report.videos} videos linked")
    for path in report.written:
        print(f"  wrote {path}")
    print(f"run with HF_HOME={hf_home()} HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 python -m lmms_eval --tasks {args.task} ...")
    return 0
