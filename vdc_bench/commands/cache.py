"""``vdc-bench cache merge A B ... --into C``: per-node verdict caches merged into one afterwards."""

from __future__ import annotations

import argparse
from pathlib import Path

from vdc_bench.scoring.verdict_cache import merge_caches


def register(sub) -> None:
    p = sub.add_parser("cache", help="verdict cache maintenance")
    csub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    m = csub.add_parser("merge", help="copy the replies of several verdict caches (e.g. one per node) into one",
                        description="First writer wins: replies the target holds are kept; differing replies for "
                        "the same request are counted as conflicts.")
    m.add_argument("sources", type=Path, nargs="+", help="verdict cache files to read")
    m.add_argument("--into", type=Path, required=True, help="the cache to merge into (created if missing; local disk)")
    m.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    counts = merge_caches(args.sources, args.into)
    print(f"merged {counts['sources']} caches into {args.into}: {counts['added']} replies added, "
          f"{counts['conflicts']} conflicting replies kept as they were in the target")
    return 0
