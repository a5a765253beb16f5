"""Judge call order: the calls of one caption reach the server grouped so that a server keeping only the
last prompt's KV cache (llama.cpp) can reuse the shared prefix (system prompt + caption for call 1)."""

from __future__ import annotations

import pytest

from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.judge_settings import EMBEDDED_CONCURRENCY, JudgeSettings
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache

ITEMS = [
    CaptionItem("camera", f"vid{v}", f"A slow pan over a red car number {v} parked near a lake.",
                tuple(QAPair(f"What colour is car {v}.{i}?", "red") for i in range(3)))
    for v in range(3)
]


def _calls(server) -> list[tuple[str, str]]:
    """(call, video) of every request in arrival order; the video is read back from the prompt."""
    protocol = load_protocol()
    out = []
    for messages in server.received:
        call = "call1" if messages[0]["content"] == protocol.templates["call1_system"] else "call2"
        video = next(f"vid{v}" for v in range(len(ITEMS)) if f" {v}." in messages[1]["content"]
                     or f"number {v} " in messages[1]["content"])
        out.append((call, video))
    return out


def _judge(server, concurrency: int):
    settings = JudgeSettings(base_url=server.url, model="stub", concurrency=concurrency)
    return judge_items(ITEMS, settings, load_protocol(), VerdictCache(None), progress=False)


def test_one_slot_sends_each_captions_call1s_then_its_call2s(scoring_stub):
    server = scoring_stub()
    out = _judge(server, EMBEDDED_CONCURRENCY)
    assert EMBEDDED_CONCURRENCY == 1  # the embedded llama.cpp server keeps one prompt's KV cache
    expected = [(call, f"vid{v}") for v in range(3) for call in ("call1",) * 3 + ("call2",) * 3]
    assert _calls(server) == expected
    assert [(j.video_id, j.qa_index, j.status) for j in out.judgements] == [
        (f"vid{v}", i, "ok") for v in range(3) for i in range(3)
    ]


@pytest.mark.parametrize("concurrency", [2, 8])
def test_concurrent_workers_keep_call1s_before_call2s_per_caption(scoring_stub, concurrency):
    server = scoring_stub(latency_s=0.01)
    out = _judge(server, concurrency)
    calls = _calls(server)
    for v in range(3):
        mine = [call for call, video in calls if video == f"vid{v}"]
        assert mine == ["call1"] * 3 + ["call2"] * 3
    # results come back in input order whatever order the calls finished in
    assert [(j.video_id, j.qa_index) for j in out.judgements] == [(f"vid{v}", i) for v in range(3) for i in range(3)]
    assert all(j.status == "ok" and j.pred in ("yes", "no") for j in out.judgements)
