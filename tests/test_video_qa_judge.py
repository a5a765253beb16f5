"""Judged open-ended video QA (Video-ChatGPT protocol) through the vdc-bench judge client.

The stub judge is a test double: it checks plumbing (prompt, parsing, caching, failure handling),
not judge quality.
"""

from __future__ import annotations

import ast

import pytest

from vdc_bench.scoring.judge_client import JudgeUnusableError
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.reply_parser import parse_verdict
from vdc_bench.scoring.verdict_cache import VerdictCache
from vdc_bench.scoring.video_qa import judge_video_qa, load_video_qa_protocol

RECORDS = [
    {"question_id": f"v_clip{i}_0", "question": "what animal is on the hill", "answer": "rabbit",
     "pred": ["rabbit", "a grey rabbit", "dog", "tree"][i]}
    for i in range(4)
]


def settings(url: str, **kw) -> JudgeSettings:
    return JudgeSettings(**{"base_url": url, "model": "stub", "concurrency": 4, "backoff_base_s": 0.01,
                            "backoff_max_s": 0.05, **kw})


def test_the_prompt_is_lmms_evals_activitynetqa_prompt_verbatim(monkeypatch):
    from lmms_eval.tasks.activitynetqa import utils

    sent = {}

    class Reply:
        def raise_for_status(self):
            pass

        def json(self):
            return {"choices": [{"message": {"content": "{'pred': 'yes', 'score': 5}"}}], "model": "m"}

    monkeypatch.setattr(utils.requests, "post", lambda url, headers, json, timeout: sent.update(json) or Reply())
    utils.get_eval("what is it", "a cat", "cat {x}", 64)
    assert load_video_qa_protocol().messages("what is it", "a cat", "cat {x}") == sent["messages"]


def test_accuracy_and_score_come_from_the_verdicts_and_are_recorded_with_protocol_and_judge(scoring_stub, tmp_path):
    server = scoring_stub()
    cache = VerdictCache(tmp_path / "c.sqlite")
    document = judge_video_qa(RECORDS, settings(server.url), cache)
    verdicts = [parse_verdict(j["replies"][-1]) for j in document["judgements"]]
    assert [j["pred"] for j in document["judgements"]] == [v.pred for v in verdicts]
    assert document["summary"]["accuracy"] == sum(v.pred == "yes" for v in verdicts) / 4
    assert document["summary"]["score"] == pytest.approx(sum(v.score for v in verdicts) / 4)
    assert document["protocol"]["name"] == "video_chatgpt_qa" and len(document["protocol"]["sha256"]) == 64
    assert document["judge"]["model"] == "stub" and "api_key" not in document["judge"]
    # a rerun is answered from the verdict cache
    again = judge_video_qa(RECORDS, settings(server.url), cache)
    assert again["calls"]["cache_hits"] == 4 and again["summary"] == document["summary"]


def test_failed_samples_count_as_wrong_without_a_judge_call(scoring_stub, tmp_path):
    server = scoring_stub()
    records = [dict(RECORDS[0]), {**RECORDS[1], "pred": "", "error": "/v/clip1.mp4: file not found"}]
    document = judge_video_qa(records, settings(server.url), VerdictCache(None))
    assert [j["status"] for j in document["judgements"]] == ["ok", "generation_failed"]
    assert document["summary"]["generation_failed"] == 1 and document["calls"]["succeeded"] == 1


def test_an_unreachable_judge_fails_loudly_instead_of_scoring_zero(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=10, fault="500")
    with pytest.raises(JudgeUnusableError, match=r"failed on 4 of 4 QAs"):
        judge_video_qa(RECORDS, settings(server.url, max_attempts=2), VerdictCache(tmp_path / "c.sqlite"))


def test_unparsable_replies_are_reasked_then_counted(scoring_stub, tmp_path):
    server = scoring_stub(fail_first=1, fault="garbage")
    document = judge_video_qa(RECORDS, settings(server.url), VerdictCache(None))
    assert all(len(j["replies"]) == 2 for j in document["judgements"])  # garbage, then a parsable re-ask reply
    assert document["summary"]["parse_failed"] == 0
    assert ast.literal_eval(document["judgements"][0]["replies"][1])["pred"] in ("yes", "no")
