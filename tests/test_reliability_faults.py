"""A judge that misbehaves 20% of the time changes no score.

The real embedded judge (llama-cpp-python serving SmolLM2-135M, protocol ``vdcscore-v1-json``) sits
behind ``tests/fault_proxy.py``, which injects timeouts, connection resets, 429 + Retry-After, 500,
503, empty content, truncated and malformed bodies into a seeded 20% of attempts. Scored: the demo
set's reference captions of 2 videos x 5 dimensions x 1 QA (10 QAs, 20 judge calls).
"""

from __future__ import annotations

import json

import pytest

from doubles.fault_proxy import FAULTS, FaultPlan, FaultProxy
from vdc_bench.dataset.demo import demo_annotations
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.judge import assets, embedded, engines, server
from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.pipeline import ScoringConfig, score_captions
from vdc_bench.scoring.protocol import load_protocol

pytestmark = pytest.mark.slow

N_VIDEOS, N_QAS = 2, 1


def demo_items() -> list[CaptionItem]:
    """Reference caption of each dimension as the prediction, with its first ``N_QAS`` reference QAs."""
    items = []
    for ann in demo_annotations()[:N_VIDEOS]:
        for dim in DIMENSIONS:
            qas = tuple(QAPair(q["question"], q["answer"], q.get("category", "")) for q in ann.qa[dim][:N_QAS])
            items.append(CaptionItem(dim, ann.video_id, ann.captions[dim], qas))
    return items


@pytest.fixture
def smoke_judge(tmp_path, monkeypatch):
    """The real SmolLM2 embedded judge, with its state files and log in a temporary cache."""
    engines.ensure_judge_python(log=print)
    model = assets.ensure_asset(assets.SMOKE_ASSET)
    monkeypatch.setenv("VDC_CACHE_DIR", str(tmp_path / "judge_cache"))
    cache = assets.cache_dir()
    cache.mkdir(parents=True)
    for src in (model, model.with_name(model.name + ".verified")):
        (cache / src.name).symlink_to(src)
    yield embedded.ensure_embedded_judge(assets.SMOKE_ASSET)
    server.stop_owned_servers()


def run_scoring(url: str, model: str, out, cache) -> tuple[dict, list[dict]]:
    # source "url": the proxy is an ordinary endpoint (no embedded-judge revival on connection resets).
    settings = JudgeSettings(base_url=url, model=model, concurrency=1, timeout_s=30.0, max_tokens=64, backoff_base_s=0.05,
                             backoff_max_s=0.5, max_attempts=8)
    config = ScoringConfig(load_protocol("vdcscore-v1-json"), cache, bootstrap_iters=200, progress=False)
    doc, judgements = score_captions(demo_items(), settings, config, out)
    return doc.to_dict(), [j.as_dict() for j in judgements]


def test_faulty_judge_gives_the_fault_free_scores(smoke_judge, tmp_path):
    clean_doc, clean = run_scoring(smoke_judge.base_url, smoke_judge.model, tmp_path / "clean", tmp_path / "a.sqlite")
    assert clean_doc["calls"]["retries"] == 0 and clean_doc["calls"]["failed"] == 0
    assert clean_doc["counts"]["qas"] == N_VIDEOS * len(DIMENSIONS) * N_QAS

    # stall_s > timeout_s: a "timeout" fault really times the client out.
    with FaultProxy(smoke_judge.base_url, FaultPlan(rate=0.2, seed=259, stall_s=31.0)) as proxy:
        doc, faulty = run_scoring(proxy.url, smoke_judge.model, tmp_path / "faulty", tmp_path / "b.sqlite")
        injected = dict(proxy.injected)
    print("faults injected:", injected, "calls:", doc["calls"])

    assert sum(injected.values()) >= 5, injected  # the seed really exercises the client
    assert len(injected) >= 7, injected  # seed 259: 7 kinds on the call-1 requests alone (judge-independent)
    calls = doc["calls"]
    assert calls["failed"] == 0
    assert calls["retries"] == sum(injected.values())  # every fault cost exactly one counted retry
    assert sum(calls["retry_reasons"].values()) == calls["retries"]
    on_disk = json.loads((tmp_path / "faulty" / "vdcscore_scores.json").read_text())
    assert on_disk["calls"]["retries"] == calls["retries"]  # counted in the written report too

    for key in ("dimensions", "vdcscore"):
        assert doc[key] == clean_doc[key]
    strip = ("raw_call1", "raw_call2")  # replies are equal too, but compare the verdicts first for a clear diff
    assert [{k: v for k, v in j.items() if k not in strip} for j in faulty] == \
        [{k: v for k, v in j.items() if k not in strip} for j in clean]
    assert faulty == clean
    # The 135M smoke judge sometimes rambles past max_tokens (parse_failed): the same QAs in both runs.
    assert sum(j["status"] == "ok" for j in faulty) >= len(faulty) // 2


def test_every_fault_kind_is_survived_alone(scoring_stub, tmp_path):
    """Each fault kind at a 50% rate against the deterministic stub: same verdicts as without faults."""
    stub = scoring_stub()
    items = [CaptionItem("short", f"v{i}", f"A red kite {i} flies over a beach.",
                         (QAPair("What flies?", "a kite"), QAPair("Where?", "over a beach"))) for i in range(3)]
    from vdc_bench.scoring.scorer import judge_items
    from vdc_bench.scoring.verdict_cache import VerdictCache

    def settings(url: str) -> JudgeSettings:
        return JudgeSettings(base_url=url, model="stub", concurrency=4, timeout_s=0.5, backoff_base_s=0.01,
                             backoff_max_s=0.05, max_attempts=12)

    clean = judge_items(items, settings(stub.url), load_protocol(), VerdictCache(None), progress=False)
    for fault in FAULTS:
        with FaultProxy(stub.url, FaultPlan(rate=0.5, seed=3, faults=(fault,), stall_s=1.0)) as proxy:
            out = judge_items(items, settings(proxy.url), load_protocol(), VerdictCache(None), progress=False)
            injected = proxy.total_injected
        assert injected > 0, fault
        assert out.calls.failed == 0 and out.calls.retries == injected, (fault, out.calls)
        assert [j.as_dict() for j in out.judgements] == [j.as_dict() for j in clean.judgements], fault


def test_embedded_judge_listens_on_loopback_only(smoke_judge):
    import psutil

    state = server.find_server(model=smoke_judge.model)
    assert state is not None and state.host == "127.0.0.1"
    procs = [psutil.Process(state.pid), *psutil.Process(state.pid).children(recursive=True)]
    listening = [c.laddr for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
