"""Run a server command and take its whole process group down when the owning process dies.

``python -m vdc_bench.judge.watchdog -- CMD ...`` is started by the owner (a VDC run) in a new
session. atexit and signal handlers in the owner cover normal exits, Ctrl-C and SIGTERM; this
covers the rest (SIGKILL, OOM kill, a crash in native code): once our parent is gone we are
re-parented, ``os.getppid()`` changes, and we stop the server. On SIGTERM/SIGINT we stay alive
until the server has exited (SIGKILL after a grace period), so the server is never left running
without a watchdog, even if the owner is killed while it waits. Stdlib only, no vdc_bench imports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 8.0  # a server busy with a long request may ignore SIGTERM until the request ends


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: python -m vdc_bench.judge.watchdog -- CMD [ARGS...]", file=sys.stderr)
        return 2
    owner = os.getppid()
    child = subprocess.Popen(argv[1:])
    stopping_since: float | None = None

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            return child.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if stopping_since is None and os.getppid() != owner:
            print(
                f"[watchdog] owner process {owner} is gone; stopping the server", file=sys.stderr, flush=True
            )
            stop()
        if stopping_since is not None and time.monotonic() - stopping_since > GRACE_S:
            os.killpg(0, signal.SIGKILL)  # the server, anything it spawned, and us


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
