"""Retries, backoff, Retry-After, hard cap and re-asks against a fault-injecting stub judge."""

from __future__ import annotations

import socket
import time

import pytest

from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.judge_client import JudgeUnusableError
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache

ITEMS = [
    CaptionItem("camera", f"vid{v}", f"A slow pan over a red car number {v} parked near a lake.",
                tuple(QAPair(f"What colour is car {i}?", "red") for i in range(2)))
    for v in range(2)
]
N_QA = 4


def settings(url: str, **kw) -> JudgeSettings:
    base = {"base_url": url, "model": "stub", "concurrency": 4, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
    return JudgeSettings(**{**base, **kw})


def run(server_url, tmp_path, **kw):
    return judge_items(ITEMS, settings(server_url, **kw), load_protocol(), VerdictCache(tmp_path / "c.sqlite"),
                       progress=False)


@pytest.mark.parametrize("fault", ["500", "503"])
def test_server_errors_are_retried(scoring_stub, tmp_path, fault):
    server = scoring_stub(fail_first=2, fault=fault)
    out = run(server.url, tmp_path)
    assert [j.status for j in out.judgements] == ["ok"] * N_QA
    assert set(server.attempts.values()) == {3}  # every call: 2 injected failures + 1 success
    assert out.calls.retries == 2 * 2 * N_QA
    assert out.calls.retry_reasons == {f"HTTP {fault}": 2 * 2 * N_QA}


def test_429_honours_retry_after(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1, fault="429", retry_after_s=0.3)
    started = time.perf_counter()
    out = run(server.url, tmp_path, backoff_base_s=0.001, backoff_max_s=0.001)
    elapsed = time.perf_counter() - started
    assert all(j.status == "ok" for j in out.judgements)
    assert out.calls.retry_reasons == {"HTTP 429": 2 * N_QA}
    # call 1 and call 2 of a QA are sequential, each waited the server's 0.3 s (backoff alone: 1 ms).
    assert elapsed >= 0.6


def test_timeouts_are_retried(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1, fault="timeout", stall_s=3.0)
    out = run(server.url, tmp_path, timeout_s=0.3)
    assert all(j.status == "ok" for j in out.judgements)
    assert out.calls.retry_reasons == {"timeout": 2 * N_QA}


def test_hard_cap_records_failure_and_is_not_cached(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1000, fault="500")
    out = run(server.url, tmp_path, max_attempts=3)
    assert [j.status for j in out.judgements] == ["judge_failed"] * N_QA
    assert all("HTTP 500 after 3 attempts" in j.error for j in out.judgements)
    assert set(server.attempts.values()) == {3}
    assert out.calls.failed == N_QA
    assert VerdictCache(tmp_path / "c.sqlite").count() == 0  # a later run retries them


def test_connection_refused_is_a_recorded_failure(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run(f"http://127.0.0.1:{port}/v1", tmp_path, max_attempts=2)
    assert all(j.status == "judge_failed" and "connection error" in j.error for j in out.judgements)


def test_bad_credentials_abort_the_run(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1000, fault="401")
    with pytest.raises(JudgeUnusableError, match="HTTP 401"):
        run(server.url, tmp_path)


def test_unparsable_verdict_is_reasked_once(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1, fault="garbage")  # first verdict reply of each request is prose
    out = run(server.url, tmp_path)
    assert all(j.status == "ok" and j.reasks == 1 for j in out.judgements)
    assert all(len(j.raw_call2) == 2 and j.raw_call2[0].startswith("I think") for j in out.judgements)


def test_persistently_unparsable_verdict_is_parse_failed(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1000, fault="garbage")
    out = run(server.url, tmp_path, reasks=2)
    assert all(j.status == "parse_failed" and j.reasks == 2 and j.pred is None for j in out.judgements)
    assert all(len(j.raw_call2) == 3 for j in out.judgements)  # 1 ask + 2 re-asks, all kept for the audit


def test_dead_embedded_judge_is_revived(scoring_stub, tmp_path):
    from vdc_bench.judge import server as judge_server

    live = scoring_stub()
    revived = []

    def fake_ensure(model=None):
        revived.append(model)
        return judge_server.JudgeEndpoint(live.url, "stub", True, "restarted stub")

    with socket.socket() as s:  # the "crashed" server's port: nobody listens any more
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    out = run(dead, tmp_path, source="embedded", max_attempts=3, revive=fake_ensure)
    assert all(j.status == "ok" for j in out.judgements)
    assert revived and set(revived) == {"stub"}
    assert live.total_served == 2 * N_QA
