"""Command-line conventions shared by every parser (``vdc-bench`` and ``python -m vdc_bench.gpu_bench``).

Spelling: our own options are kebab-case (``--num-frm``, ``--output``); options handed on unchanged to
lmms-eval keep lmms-eval's spelling (``--model_args``, ``--gen_kwargs``, ``--batch_size``,
``--output_path``), so a command line can be copied between ``vdc-bench run`` and ``lmms_eval``. An
older spelling stays accepted, hidden from ``--help``, with a one-line deprecation note that the parser
prints itself, as argparse prints its own errors (no logger import: ``python -m vdc_bench.gpu_bench`` runs
on GPU boxes that have only torch and transformers).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help when it has a meaningful default the help does not
    already state (not for flags, nor None or empty defaults: they mean "off" or "not given")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        default = action.default
        if (action.option_strings and action.nargs != 0 and "default" not in help_text
                and default is not argparse.SUPPRESS and default not in (None, [], "")):
            shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"
            help_text += f" (default: {shown})"
        return help_text


class Parser(argparse.ArgumentParser):
    """ArgumentParser that shows defaults and accepts deprecated spellings (see :func:`deprecated_alias`).
    Its subparsers are of the same class (argparse's default), so the whole command tree behaves alike."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)
        self.renamed: dict[str, str] = {}  # deprecated spelling -> current one

    def parse_known_args(self, args=None, namespace=None):
        # Rewritten before parsing, so the option keeps its type, choices and required check. Each
        # subparser rewrites only the arguments argparse hands on to it, with its own renames.
        args = list(sys.argv[1:] if args is None else args)
        for i, arg in enumerate(args):
            if arg == "--":
                break
            old, eq, value = arg.partition("=")
            if old in self.renamed:
                new = self.renamed[old]
                self._print_message(f"{self.prog}: warning: {old} is deprecated; use {new}\n", sys.stderr)
                args[i] = new + eq + value
        return super().parse_known_args(args, namespace)


def add_verbosity(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """``--verbosity``: the lowest level of progress/status messages printed to stderr."""
    from vdc_bench.logs import DEFAULT_LEVEL, LEVELS

    default = DEFAULT_LEVEL if default is None else default
    parser.add_argument("--verbosity", type=str.upper, choices=LEVELS, default=default,
                        help=f"lowest level of progress messages shown on stderr (default: {DEFAULT_LEVEL})")


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Accept ``old`` (hidden from ``--help``) as a spelling of the existing option ``new``."""
    if not isinstance(parser, Parser) or new not in parser._option_string_actions:
        raise ValueError(f"{old} -> {new}: needs a vdc_bench Parser that has {new}")
    parser.renamed[old] = new
