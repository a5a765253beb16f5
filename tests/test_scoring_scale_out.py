"""Judge scale-out against stub judges: several endpoints sharing the calls by load, identical in-flight
requests sent once, token usage summed."""

from __future__ import annotations

from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.cost_estimate import estimate_cost
from vdc_bench.scoring.judge_settings import JudgeSettings, base_url_host
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache


def _items(videos: int, qas: int, same_caption: bool = False) -> list[CaptionItem]:
    return [
        CaptionItem("camera", f"vid{v}", "A slow pan over a red car parked near a lake." if same_caption
                    else f"A slow pan over a red car number {v} parked near a lake.",
                    tuple(QAPair(f"What colour is car {i}?", "red") for i in range(qas)))
        for v in range(videos)
    ]


def _judge(urls: list[str], items, tmp_path, name: str, concurrency: int = 8):
    settings = JudgeSettings(base_url=",".join(urls), model="stub", concurrency=concurrency)
    return judge_items(items, settings, load_protocol(), VerdictCache(tmp_path / f"{name}.sqlite"), progress=False)


def test_two_endpoints_share_the_calls_and_give_the_verdicts_of_one(scoring_stub, tmp_path):
    a, b = scoring_stub(latency_s=0.02), scoring_stub(latency_s=0.02)
    items = _items(videos=8, qas=3)
    both = _judge([a.url, b.url], items, tmp_path, "both")
    calls = a.total_served + b.total_served
    assert calls == both.calls.succeeded and calls >= 8 * 3  # every answer call (verdict calls can coincide)
    assert min(a.total_served, b.total_served) >= calls // 3  # shared, not all on one
    assert both.calls.endpoint_attempts == {base_url_host(a.url): a.total_attempts, base_url_host(b.url): b.total_attempts}
    alone = _judge([scoring_stub().url], items, tmp_path, "alone")
    assert [j.as_dict() for j in both.judgements] == [j.as_dict() for j in alone.judgements]


def test_the_busier_endpoint_gets_fewer_calls(scoring_stub, tmp_path):
    slow, fast = scoring_stub(latency_s=0.4), scoring_stub(latency_s=0.01)
    _judge([slow.url, fast.url], _items(videos=8, qas=3), tmp_path, "mixed", concurrency=4)
    assert fast.total_served > 3 * slow.total_served  # least in flight, not round robin


def test_identical_requests_in_flight_are_sent_once_and_usage_is_summed(scoring_stub, tmp_path):
    stub = scoring_stub(latency_s=0.1)
    items = _items(videos=4, qas=2, same_caption=True)  # four videos asking exactly the same questions
    out = _judge([stub.url], items, tmp_path, "dup")
    assert set(stub.attempts.values()) == {1}  # every distinct request reached the server once
    assert stub.total_served == 2 * 2 and out.calls.shared_in_flight + out.calls.cache_hits == 3 * 2 * 2
    assert out.calls.shared_in_flight >= 3 * 2  # the first questions all start together
    assert len({j.as_dict()["score"] for j in out.judgements if j.question.endswith("0?")}) == 1
    assert out.calls.prompt_tokens > 0 and out.calls.completion_tokens > 0
    assert out.calls.to_dict()["shared_in_flight"] == out.calls.shared_in_flight


def test_dry_run_estimate_counts_calls_and_then_finds_them_all_cached(scoring_stub, tmp_path):
    stub = scoring_stub()
    items = [*_items(videos=3, qas=2), CaptionItem("camera", "broken", "", (QAPair("Q?", "A"),), failed=True)]
    settings = JudgeSettings(base_url=stub.url, model="stub", max_tokens=100)
    cache = VerdictCache(tmp_path / "c.sqlite")
    before = estimate_cost(items, settings, load_protocol(), cache)
    assert stub.total_attempts == 0  # nothing was called
    assert (before["captions"], before["failed_captions"], before["qas"]) == (3, 1, 6)
    assert before["calls_to_send"] == 2 * 6 and before["calls_cached"] == 0
    assert before["completion_tokens_max"] == 12 * 100 and before["prompt_tokens_estimate"] > 6 * 50
    judge_items(items, settings, load_protocol(), cache, progress=False)
    after = estimate_cost(items, settings, load_protocol(), cache)
    assert after["calls_to_send"] == 0 and after["calls_cached"] == stub.total_served
