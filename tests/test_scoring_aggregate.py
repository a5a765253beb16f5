"""Aggregation against a hand-computed example (zero-score video, parse failure, failed generation)."""

from __future__ import annotations

import pytest

from vdc_bench.scoring.aggregate import compare_paired, summarize
from vdc_bench.scoring.scorer import QAJudgement


def qa(dim, vid, i, status="ok", pred=None, score=None):
    return QAJudgement(dim, vid, i, f"q{i}", f"a{i}", "", status, pred, score)


EXAMPLE = [
    # camera / A: yes 4, no 2, yes 5 -> acc 2/3, score 11/3
    qa("camera", "A", 0, pred="yes", score=4), qa("camera", "A", 1, pred="no", score=2), qa("camera", "A", 2, pred="yes", score=5),
    # camera / B: a video whose every QA scores 0 (the aurora scorer silently drops it)
    qa("camera", "B", 0, pred="no", score=0), qa("camera", "B", 1, pred="no", score=0),
    # camera / C: yes 3 and a parse failure -> as_zero: acc 1/2, score 3/2; excluded: acc 1, score 3
    qa("camera", "C", 0, pred="yes", score=3), qa("camera", "C", 1, status="parse_failed"),
    # short / A: yes 5; short / B: caption generation failed (2 QAs)
    qa("short", "A", 0, pred="yes", score=5),
    qa("short", "B", 0, status="generation_failed"), qa("short", "B", 1, status="generation_failed"),
]


def test_hand_computed_example():
    s = summarize(EXAMPLE, bootstrap_iters=0)
    cam, short = s["dimensions"]["camera"], s["dimensions"]["short"]
    assert cam["n_videos"] == 3 and cam["n_qas"] == 7  # the zero-score video is kept
    assert cam["acc"] == pytest.approx(100 * (2 / 3 + 0 + 1 / 2) / 3)  # 38.888...
    assert cam["score"] == pytest.approx((11 / 3 + 0 + 3 / 2) / 3)  # 1.7222...
    assert cam["micro_acc"] == pytest.approx(100 * 3 / 7)
    assert cam["micro_score"] == pytest.approx(14 / 7)
    assert cam["failures"] == {"parse_failed": 1, "judge_failed": 0, "generation_failed": 0}
    assert cam["videos_with_failures"] == 1
    assert cam["excluded_policy"]["acc"] == pytest.approx(100 * (2 / 3 + 0 + 1) / 3)
    assert cam["excluded_policy"]["score"] == pytest.approx((11 / 3 + 0 + 3) / 3)
    assert cam["excluded_policy"]["n_qas"] == 6
    assert short["acc"] == pytest.approx(50.0) and short["score"] == pytest.approx(2.5)
    assert short["failures"]["generation_failed"] == 2
    assert short["excluded_policy"]["n_videos"] == 1  # B has no judged QA left under that policy
    overall = s["vdcscore"]
    assert overall["acc"] == pytest.approx((cam["acc"] + 50.0) / 2)
    assert overall["score"] == pytest.approx((cam["score"] + 2.5) / 2)
    assert overall["complete"] is False and overall["n_dimensions"] == 2
    assert overall["failures"] == {"parse_failed": 1, "judge_failed": 0, "generation_failed": 2}
    assert overall["acc_ci95"] is None  # bootstrap off


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    many = [qa("camera", f"v{v}", i, pred="yes" if (v + i) % 3 else "no", score=((v * 7 + i * 3) % 11) / 2)
            for v in range(40) for i in range(5)]
    a = summarize(many, bootstrap_iters=500, seed=7)
    b = summarize(many, bootstrap_iters=500, seed=7)
    c = summarize(many, bootstrap_iters=500, seed=8)
    assert a == b
    assert a["dimensions"]["camera"]["score_ci95"] != c["dimensions"]["camera"]["score_ci95"]
    cam = a["dimensions"]["camera"]
    assert cam["acc_ci95"][0] < cam["acc"] < cam["acc_ci95"][1]
    assert cam["score_ci95"][0] < cam["score"] < cam["score_ci95"][1]
    assert a["vdcscore"]["acc_ci95"] == pytest.approx(cam["acc_ci95"])  # one dimension: same draws


def test_paired_comparison():
    # Run B differs from the example on camera/A only: all three QAs "no" with score 1.
    b = [qa("camera", "A", j.qa_index, pred="no", score=1) if (j.dimension, j.video_id) == ("camera", "A") else j
         for j in EXAMPLE]
    paired = compare_paired(EXAMPLE, b + [qa("camera", "Z", 0, pred="yes", score=5)], bootstrap_iters=200)
    cam = paired["dimensions"]["camera"]
    assert cam["common"] == 3 and cam["only_b"] == 1 and cam["only_a"] == 0
    assert cam["acc"] == pytest.approx(100 * (2 / 3) / 3)  # only video A changed: +2/3 over 3 videos
    assert cam["score"] == pytest.approx((11 / 3 - 1) / 3)
    assert paired["dimensions"]["short"]["acc"] == pytest.approx(0.0)
    assert cam["acc_ci95"][0] <= cam["acc"] <= cam["acc_ci95"][1]
