"""Run a snippet of Triton kernel code on the CPU, in Triton's interpreter, in a fresh interpreter process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_interpreted(code: str, *args: str) -> str:
    """stdout of ``python -c code args...`` with TRITON_INTERPRET=1; fails the test on a non-zero exit."""
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}  # must be set before triton is imported
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
