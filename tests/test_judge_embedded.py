"""The real embedded judge: llama-cpp-python serving the registry GGUFs, started and stopped by the tests,
scoring real VDC QAs through the VDCscore scorer (vdc_bench.scoring).

Needs `bash scripts/bootstrap_judge.sh` (``make judge``); if it has not run, the first test builds the
runtime itself (minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from vdc_bench.judge import assets, embedded, engines, server
from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache

pytestmark = pytest.mark.slow

CAPTION = (
    "A small brown dog runs across a green lawn in a park on a sunny afternoon, chasing a red ball. "
    "A woman in a blue jacket throws the ball again. Trees stand in the background."
)
QAS = (
    QAPair("What colour is the ball?", "The ball is red.", "object"),
    QAPair("What is the dog doing?", "Running and chasing a ball.", "action"),
    QAPair("What is the woman wearing?", "A blue jacket.", "object"),
)


@pytest.fixture
def judge_env(tmp_path, monkeypatch):
    """Real judge runtime + models, but state files and logs in a temporary cache (models symlinked)."""
    engines.ensure_judge_python(log=print)
    models = {name: assets.ensure_asset(name) for name in (assets.SMOKE_ASSET, assets.DEFAULT_ASSET)}
    monkeypatch.setenv("VDC_CACHE_DIR", str(tmp_path))
    cache = assets.cache_dir()
    cache.mkdir(parents=True)
    for path in models.values():
        for src in (path, path.with_name(path.name + ".verified")):
            (cache / src.name).symlink_to(src)
    yield cache
    server.stop_owned_servers()
    for state in server.list_servers():
        server.stop_server(state, grace_s=5)


def score(endpoint: server.JudgeEndpoint, protocol: str, qas=QAS):
    # Resolved as a run resolves a URL of our llama.cpp server: the real server must take the sampling we send.
    settings = embedded.resolve_judge(base_url=endpoint.base_url, model=endpoint.model, concurrency=2, timeout_s=300)
    assert settings.repeat_penalty == embedded.NO_REPEAT_PENALTY
    items = [CaptionItem("detailed", "dog_park", CAPTION, tuple(qas))]
    return judge_items(items, settings, load_protocol(protocol), VerdictCache(None), progress=False)


def test_smoke_model_scores_real_qas_and_leaves_no_orphan(judge_env):
    endpoint = embedded.ensure_embedded_judge(assets.SMOKE_ASSET)
    assert endpoint.started_here and endpoint.base_url.startswith("http://127.0.0.1:")
    assert "NOT the published judge" in endpoint.description
    state = server.find_server(model=endpoint.model)
    assert state is not None and state.owner_pid == os.getpid()

    outcome = score(endpoint, "vdcscore-v1-json")  # grammar-constrained: even a 135M model answers in format
    assert [j.status for j in outcome.judgements] == ["ok"] * len(QAS), [j.error for j in outcome.judgements]
    for j in outcome.judgements:
        assert j.pred in ("yes", "no") and 0 <= j.score <= 5
        assert j.raw_call1 and j.raw_call2 and j.extracted_answer is not None
    assert outcome.calls.succeeded >= 2 * len(QAS)

    server.stop_owned_servers()
    deadline = time.monotonic() + 20
    while server.pid_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not server.pid_alive(state.pid)
    assert not server.port_in_use(state.host, state.port)
    assert server.list_servers() == []


def test_default_qwen_judge_with_the_stock_prompts(judge_env):
    endpoint = embedded.ensure_embedded_judge()
    assert endpoint.model == assets.ASSETS[assets.DEFAULT_ASSET].alias
    outcome = score(endpoint, "vdcscore-v1", QAS[:2])
    # The 1.5B judge follows the published reply format (a Python dict); its verdicts are not asserted:
    # their quality is what `vdc-bench judge calibrate` measures.
    assert [j.status for j in outcome.judgements] == ["ok", "ok"], [j.raw_call2 for j in outcome.judgements]
    for j in outcome.judgements:
        assert j.pred in ("yes", "no") and 0 <= j.score <= 5
        assert j.extracted_answer.strip()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vdc_bench", "judge", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_serve_reuse_status_stop(judge_env):
    first = cli("serve", "--smoke", "--port", "0")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    (state,) = server.list_servers()
    assert state.owner_pid is None and server.pid_alive(state.pid)  # detached: outlives the CLI

    again = cli("serve", "--smoke")
    assert again.returncode == 0 and again.stdout.strip() == url
    assert "reusing" in again.stderr
    busy = cli("serve", "--model", assets.DEFAULT_ASSET, "--port", str(state.port))
    assert busy.returncode == 2 and "already in use" in busy.stderr

    status = cli("status")
    assert url in status.stdout and " ok " in status.stdout
    stop = cli("stop")
    assert stop.returncode == 0 and f"port {state.port}" in stop.stderr
    assert not server.pid_alive(state.pid)
    assert "no judge server running" in cli("stop").stderr
