"""Progress and status messages: lmms-eval's logger (loguru), one verbosity knob.

Library code logs with ``from vdc_bench.logs import logger``; command *results* (paths, tables) are
printed to stdout by the commands instead. Only a command-line entry point calls :func:`configure`:
inside an lmms-eval process the same ``logger`` object keeps lmms-eval's own sink and verbosity.
Importing ``lmms_eval.models`` replaces every sink (lmms-eval 0.7.3 does so at import), so a process that
imports it after :func:`configure` must call :func:`configure` again; no ``vdc-bench`` command does.
"""

from __future__ import annotations

import sys

from loguru import logger
from tqdm import tqdm

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LEVEL = "INFO"

__all__ = ["DEFAULT_LEVEL", "LEVELS", "configure", "logger"]


def _write(message: str) -> None:
    # sys.stderr is looked up at every call (not bound once, as loguru's default sink is), so a redirected
    # or captured stderr (pytest's capsys/capfd) sees the messages; tqdm.write keeps progress bars intact.
    tqdm.write(message, file=sys.stderr, end="")
    sys.stderr.flush()


def configure(level: str = DEFAULT_LEVEL) -> None:
    """Send messages at ``level`` and above to stderr, one plain line each (they carry their own prefix)."""
    logger.remove()
    logger.add(_write, level=level.upper(), format="{message}", colorize=False)
