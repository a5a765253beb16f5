"""Let lmms-eval find our plugin in a source checkout that was never pip-installed (the GPU box).

lmms-eval learns about ``--model auroracap``, and through it about our task folder (registration.py),
only from the ``lmms_eval.models`` entry point in installed package metadata. A checkout that is merely
on PYTHONPATH has none, so there the model would be unknown. ``plugin_pythonpath`` then writes a minimal
``vdc_bench-<version>.dist-info`` (METADATA + entry_points.txt, both taken from pyproject.toml) into a
folder and returns the PYTHONPATH entries the lmms-eval processes need; importlib.metadata finds
``*.dist-info`` folders on any sys.path entry.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from pathlib import Path

import vdc_bench
from vdc_bench.errors import VdcBenchError

GROUP = "lmms_eval.models"
ENTRY_NAME = "vdc_bench"
REPO_ROOT = Path(vdc_bench.__file__).resolve().parent.parent


def plugin_installed() -> bool:
    return any(ep.name == ENTRY_NAME for ep in md.entry_points(group=GROUP))


def write_dist_info(folder: Path, pyproject: Path = REPO_ROOT / "pyproject.toml") -> Path:
    """Write ``vdc_bench-<version>.dist-info`` with the entry points of ``pyproject``; returns its path."""
    import tomllib  # Python >= 3.11; only a source checkout needs it

    project = tomllib.loads(pyproject.read_text())["project"]
    dist_info = folder / f"vdc_bench-{project['version']}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return dist_info


def plugin_pythonpath(folder: Path) -> list[str]:
    """PYTHONPATH entries that make ``--model auroracap`` and the vdc tasks resolve in lmms-eval processes.

    Empty when vdc-bench is pip-installed. Otherwise the metadata folder (written here) and the checkout.
    """
    if plugin_installed():
        return []
    for sub in ("models", "lmms_tasks"):
        if importlib.util.find_spec(f"vdc_bench.{sub}") is None:
            raise VdcBenchError(
                f"vdc_bench.{sub} is not importable: in a source checkout run "
                f"`ln -sfn $PWD/{sub} vdc_bench/{sub}` in {REPO_ROOT} (or pip install the package)"
            )
    write_dist_info(folder)
    return [str(folder), str(REPO_ROOT)]
