"""Fetch the wheels that the data-parallel run carries to the GPU box (list: ``dp_wheels.txt``).

The box image has torch, transformers and accelerate but not lmms-eval and several of its imports, and
nothing can be fetched there, so they travel as wheels inside the working tree, which the device tool
caps at 64 MiB together with the rest of the repo. The wheels' large members are therefore recompressed
with LZMA: the same files and RECORD hashes (they cover uncompressed contents), and pip unpacks any zip
compression method Python's zipfile reads. PyAV alone shrinks from 39 MB to 30 MB.

    python -m gpu_box.carried_wheels --dest .whl-dp                       # the box: CPython 3.12
    python -m gpu_box.carried_wheels --dest /tmp/w311 --python-version 3.11   # a local rehearsal
"""

from __future__ import annotations

import argparse
import lzma
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("dp_wheels.txt")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def requirements(path: Path = REQUIREMENTS) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def download(pins: list[str], dest: Path, python_version: str) -> list[Path]:
    """``pip download --no-deps`` of exactly ``pins`` (binary wheels for x86-64 Linux, CPython ``python_version``)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", "-d", str(dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + pins, check=True)
    return sorted(dest.glob("*.whl"))


def recompress_lzma(wheel: Path) -> None:
    """Rewrite ``wheel`` in place, LZMA-compressing each member that LZMA makes smaller (the big shared
    libraries; small files keep deflate, where LZMA's per-member overhead would cost more)."""
    with zipfile.ZipFile(wheel) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    methods = [zipfile.ZIP_LZMA if len(lzma.compress(data)) < info.compress_size else info.compress_type
               for info, data in members]
    if all(m == info.compress_type for m, (info, _) in zip(methods, members, strict=True)):
        return
    with tempfile.NamedTemporaryFile(dir=wheel.parent, suffix=".tmp", delete=False) as tmp:
        with zipfile.ZipFile(tmp, "w") as dst:
            for method, (info, data) in zip(methods, members, strict=True):
                dst.writestr(info, data, compress_type=method)
    shutil.move(tmp.name, wheel)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_box.carried_wheels", description=__doc__.splitlines()[0])
    p.add_argument("--dest", type=Path, required=True, help="folder for the wheels (ignored by git, carried)")
    p.add_argument("--python-version", default="3.12", help="CPython of the target (the GPU box: 3.12)")
    p.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    args = p.parse_args(argv)
    wheels = download(requirements(args.requirements), args.dest, args.python_version)
    for wheel in wheels:
        recompress_lzma(wheel)
    total = sum(w.stat().st_size for w in wheels)
    for wheel in wheels:
        print(f"{wheel.stat().st_size / 1e6:8.2f} MB  {wheel.name}")
    print(f"{total / 1e6:8.2f} MB  total, {len(wheels)} wheels in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
