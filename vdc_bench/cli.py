"""The ``vdc-bench`` command line: a thin layer over the library.

Each subcommand lives in ``vdc_bench/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returns an exit code).
Option spelling and shown defaults follow ``vdc_bench.cli_options``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vdc_bench import __version__
from vdc_bench.cli_options import Parser, add_verbosity
from vdc_bench.errors import VdcBenchError
from vdc_bench.logs import configure, logger

# Subcommand modules, in help order.
COMMAND_MODULES = [
    "vdc_bench.commands.info",
    "vdc_bench.commands.run",
    "vdc_bench.commands.caption",
    "vdc_bench.commands.make_checkpoint",
    "vdc_bench.commands.judge",
    "vdc_bench.commands.score",
    "vdc_bench.commands.cache",
    "vdc_bench.commands.make_qa",
    "vdc_bench.commands.sweep",
    "vdc_bench.commands.report",
    "vdc_bench.commands.leaderboard",
    "vdc_bench.commands.data",
    "vdc_bench.commands.demo",
    "vdc_bench.commands.bench",
]


def subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (subcommands and their subcommands), depth first."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += [child, *subparsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="vdc-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"vdc-bench {__version__}")
    add_verbosity(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for child in subparsers(parser):  # also accepted after the subcommand; SUPPRESS keeps the global value
        add_verbosity(child, default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure(args.verbosity)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VdcBenchError as err:
        logger.error(f"vdc-bench {args.command}: error: {err}")
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
