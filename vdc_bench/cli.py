"""The ``vdc-bench`` command line: a thin layer over the library.

Each subcommand lives in ``vdc_bench/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vdc_bench import __version__
from vdc_bench.errors import VdcBenchError

# Subcommand modules, in help order.
COMMAND_MODULES = [
    "vdc_bench.commands.info",
    "vdc_bench.commands.run",
    "vdc_bench.commands.caption",
    "vdc_bench.commands.make_checkpoint",
    "vdc_bench.commands.judge",
    "vdc_bench.commands.score",
    "vdc_bench.commands.make_qa",
    "vdc_bench.commands.sweep",
    "vdc_bench.commands.report",
    "vdc_bench.commands.leaderboard",
    "vdc_bench.commands.data",
    "vdc_bench.commands.demo",
    "vdc_bench.commands.bench",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vdc-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vdc-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VdcBenchError as err:
        print(f"vdc-bench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
