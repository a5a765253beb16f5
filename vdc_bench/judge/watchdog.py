"""Run a server command and take its whole process group down when the owning process dies.

``python -m vdc_bench.judge.watchdog -- CMD ...`` is started by the owner (a VDC run) in a new
session. atexit and signal handlers in the owner cover normal exits, Ctrl-C and SIGTERM; this
covers the rest (SIGKILL, OOM kill, a crash in native code): once our parent is gone we are
re-parented, ``os.getppid()`` changes, and we terminate the group. Stdlib only, no vdc_bench imports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 10.0


def _terminate_group() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # keep running long enough to escalate
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        time.sleep(0.1)
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: python -m vdc_bench.judge.watchdog -- CMD [ARGS...]", file=sys.stderr)
        return 2
    owner = os.getppid()
    child = subprocess.Popen(argv[1:])
    while True:
        try:
            return child.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != owner:
            print(
                f"[watchdog] owner process {owner} is gone; stopping the server", file=sys.stderr, flush=True
            )
            _terminate_group()
            return 143


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
