"""iVQA from its original release files: loading, the defect report and iVQA's own accuracy (the
lmms-eval run is in test_standard_tasks.py, batched with the other tasks)."""

from __future__ import annotations

import pytest
from standard_fixtures import write_ivqa_copy

from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError, MissingVideosError
from vdc_bench.dataset.video_qa_releases import load_qa_release, resolve_root
from vdc_bench.lmms_tasks.video_qa.metrics import ivqa_accuracy, ivqa_score, normalise_answer

HEADER = "video_id,start,end,question,answer1,answer2,answer3,answer4,answer5"
BUNNY = "aqz-KE-bpKQ,10,15,what animal is on the hill?,rabbit,rabbit,bunny,a rabbit,hare"
CAR = "cPhOnE00001,30,34,where is the man sitting?,car,in a car,car,vehicle,car seat"


@pytest.fixture
def release(tmp_path):
    return write_ivqa_copy(tmp_path / "ivqa")


def _write(release, *lines):
    (release / "test.csv").write_text("\n".join(lines) + "\n")
    return release / "test.csv"


def test_docs_carry_the_clip_and_the_five_answers(release):
    docs, report = load_qa_release("ivqa", release)
    assert [d["question_id"] for d in docs] == ["aqz-KE-bpKQ", "cPhOnE00001"]
    bunny = docs[0]
    assert bunny["video_path"].endswith("video/aqz-KE-bpKQ_10_15.mp4")
    assert (bunny["start"], bunny["end"]) == (10.0, 15.0)
    assert bunny["answers"] == ["rabbit", "rabbit", "bunny", "a rabbit", "hare"]
    assert bunny["answer"] == "rabbit"  # the most frequent one goes to the judge
    assert bunny["sample_key"] == "ivqa/aqz-KE-bpKQ" and report.summary()["n_docs"] == 2


@pytest.mark.parametrize("lines,message", [
    ((HEADER.removesuffix(",answer5"), BUNNY), "test.csv:1: header lacks column(s) answer5"),
    ((HEADER, BUNNY, "cPhOnE00001,30,34,where?,car,car,car,car"), "test.csv:3: expected 9 fields, got 8"),
    ((HEADER, BUNNY.replace("what animal is on the hill?", " ")), "test.csv:2: empty field(s) question"),
    ((HEADER, BUNNY.replace(",10,15,", ",ten,15,")), "test.csv:2: start and end must be seconds, got 'ten', '15'"),
    ((HEADER, BUNNY.replace(",10,15,", ",15,10,")), "test.csv:2: need 0 <= start < end, got start 15, end 10"),
])
def test_a_malformed_csv_names_its_line(release, lines, message):
    path = _write(release, *lines)
    with pytest.raises(DataFormatError) as err:
        load_qa_release("ivqa", release)
    assert str(err.value) == f"{path.parent}/{message}"


def test_duplicates_are_reported_by_line_and_the_first_kept(release):
    _write(release, HEADER, BUNNY, CAR, BUNNY.replace("what animal", "which animal"))
    docs, report = load_qa_release("ivqa", release)
    assert len(docs) == 2 and docs[0]["question"] == "what animal is on the hill?"
    assert report.duplicate_ids == {"aqz-KE-bpKQ": [2, 4]}


def test_missing_videos_fail_or_are_skipped(release, monkeypatch):
    (release / "video" / "cPhOnE00001_30_34.mp4").unlink()
    with pytest.raises(MissingVideosError) as err:
        load_qa_release("ivqa", release)
    assert str(err.value) == f"{release}: 1 missing video(s): cPhOnE00001_30_34 (on_missing=skip runs the videos present)"
    docs, report = load_qa_release("ivqa", release, on_missing="skip")
    assert len(docs) == 1 and report.missing_videos == ["cPhOnE00001_30_34"]
    (release / "test.csv").unlink()
    with pytest.raises(DataNotFoundError, match="test.csv: iVQA QA file not found"):
        load_qa_release("ivqa", release)
    monkeypatch.delenv("IVQA_ROOT", raising=False)
    with pytest.raises(DataNotFoundError, match="set IVQA_ROOT"):
        resolve_root("ivqa", {})


def test_a_video_longer_than_its_span_is_refused_not_trimmed(release):
    # found under its bare YouTube id, 4.0 s long for a 1 s span: an untrimmed video, not the clip
    (release / "video" / "cPhOnE00001_30_34.mp4").rename(release / "video" / "cPhOnE00001.mp4")
    _write(release, HEADER, BUNNY, CAR.replace(",30,34,", ",30,31,"))
    with pytest.raises(DataFormatError) as err:
        load_qa_release("ivqa", release)
    assert str(err.value) == (f"{release}: 1 video(s) much longer than their clip (untrimmed? the questions are about "
                              "the start-end span; trim them): cPhOnE00001.mp4 (4.0 s, span 1 s at test.csv:3)")
    _write(release, HEADER, BUNNY.replace(",10,15,", ",10.0,15.0,"), CAR)  # a 4 s span: the same file is the clip
    docs, _ = load_qa_release("ivqa", release)
    assert docs[1]["video_path"].endswith("video/cPhOnE00001.mp4")
    assert docs[0]["video_path"].endswith("video/aqz-KE-bpKQ_10_15.mp4")  # times written 10.0, named 10


RABBIT = ["rabbit", "rabbit", "bunny", "a rabbit", "hare"]
CAR_ANSWERS = ["car", "in a car", "car", "vehicle", "car seat"]


@pytest.mark.parametrize("pred,answers,expected", [
    ("Rabbit.", RABBIT, 1.0),      # 3 annotators (one said "a rabbit"): min(1, 3/2)
    ("The rabbit", RABBIT, 1.0),
    ("bunny", RABBIT, 0.5),        # 1 annotator: 1/2
    ("hare!", RABBIT, 0.5),
    ("dog", RABBIT, 0.0),
    ("", RABBIT, 0.0),
    ("car", CAR_ANSWERS, 1.0),     # exactly 2 annotators
    ("in a car", CAR_ANSWERS, 0.5),
    ("Car-seat", CAR_ANSWERS, 0.5),
    ("seat", CAR_ANSWERS, 0.0),
])
def test_ivqa_score_is_min_1_annotators_over_2(pred, answers, expected):
    assert ivqa_score(pred, answers) == expected


def test_ivqa_accuracy_averages_and_counts_failed_samples_as_wrong():
    records = [{"pred": "bunny", "answers": RABBIT}, {"pred": "car", "answers": CAR_ANSWERS},
               {"pred": "car", "answers": CAR_ANSWERS, "error": "x.mp4: unreadable"}]
    assert ivqa_accuracy(records) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert normalise_answer("  A  Big, red   CAR ") == "big red car"
