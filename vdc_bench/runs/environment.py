"""Versions and machine description recorded with every sweep and report."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

PACKAGES = ("vdc-bench", "lmms-eval", "torch", "transformers", "openai", "matplotlib")


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def environment_versions() -> dict[str, str]:
    """Package versions (read from metadata, nothing imported) plus Python and the machine."""
    out = {name: _version(name) for name in PACKAGES}
    out["python"] = platform.python_version()
    out["machine"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores"
    return out
