"""A corpus of bad inputs, each met with a clear message (never a traceback or a crash).

Three kinds of outcome:
* ``raises``: rejected before any work with a one-line ``VdcBenchError`` naming the file/line/field/URL;
* ``handled``: the run goes on and the defect is counted/flagged in the report;
* per-sample visual failures (``VisualError``), which the AuroraCap adapter records as that sample's
  ``error`` while the run continues (end to end: ``test_bad_videos_are_counted_and_the_rest_is_scored``).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import av
import numpy as np
import pytest
from vdc_fixtures import write_root

from vdc_bench.dataset.loader import load_dimension
from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.settings import AuroraCapSettings
from vdc_bench.models.auroracap.video_io import VisualError, load_visual
from vdc_bench.scoring.caption_records import load_samples
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.pipeline import ScoringConfig, score_captions
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import MAX_CAPTION_CHARS

# --- builders ---------------------------------------------------------------------------------


def make_video(path: Path, fmt: str | None = None, frames: int = 12) -> Path:
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), i * 20, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bad_visual(tmp: Path, case: str) -> Path:
    if case == "zero_byte_mp4":
        (tmp / "empty.mp4").touch()
        return tmp / "empty.mp4"
    if case == "truncated_mp4":
        data = make_video(tmp / "full.mp4").read_bytes()
        (tmp / "cut.mp4").write_bytes(data[: len(data) * 2 // 5])  # the index (moov) is lost
        return tmp / "cut.mp4"
    if case == "text_named_mp4":
        (tmp / "notes.mp4").write_text("this is not a video\n" * 40)
        return tmp / "notes.mp4"
    if case == "unsupported_codec":  # a Matroska stream whose codec FFmpeg has no decoder for
        data = make_video(tmp / "ok.mkv", fmt="matroska").read_bytes()
        assert data.count(b"V_MPEG4/ISO/ASP") == 1
        (tmp / "codec.mkv").write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_QQQQQ/ISO/ASP"))
        return tmp / "codec.mkv"
    if case == "missing_video":
        return tmp / "gone.mp4"
    if case == "unreadable_image":
        (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
        return tmp / "broken.png"
    raise AssertionError(case)


VISUAL_CASES = {
    "zero_byte_mp4": "empty file (0 bytes)",
    "truncated_mp4": "cannot open video",
    "text_named_mp4": "cannot open video",
    "unsupported_codec": "unsupported video codec",
    "missing_video": "file not found",
    "unreadable_image": "cannot read image",
}


@pytest.mark.parametrize("case", sorted(VISUAL_CASES))
def test_bad_visual_is_a_per_sample_error_naming_the_file(tmp_path, case):
    path = bad_visual(tmp_path, case)
    with pytest.raises(VisualError) as err:
        load_visual(str(path), 4)
    assert str(err.value).startswith(f"{path}: {VISUAL_CASES[case]}"), str(err.value)


def test_video_without_a_frame_count_is_decoded(tmp_path):
    path = make_video(tmp_path / "no_count.mkv", fmt="matroska")  # Matroska headers carry no frame count
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0
    visual = load_visual(str(path), 4)
    assert visual.frames.shape[0] == 4 and visual.frame_count_source != "container"


# --- data root (VDC annotations) ---------------------------------------------------------------


def _rewrite_jsonl(path: Path, edit) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    edit(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def data_case(root: Path, case: str) -> None:
    captions, qa = root / "VDC_1k.jsonl", root / "VDCScore_qa" / "short.jsonl"
    if case == "malformed_jsonl_line":
        with qa.open("a") as f:
            f.write('{"vidX": [{"question": "q", "answer": "a"}\n')
    elif case == "record_missing_field":
        _rewrite_jsonl(captions, lambda rows: rows[1].pop("video_id"))
    elif case == "non_utf8_text":
        with captions.open("ab") as f:
            f.write(b'{"video_id": "vidZ", "video_name": "vidZ.mp4", "short_caption": "caf\xe9"}\n')
    elif case == "path_traversal":
        _rewrite_jsonl(captions, lambda rows: rows[1].update(video_name="../../etc/passwd"))
    elif case == "missing_video_file":
        (root / "videos" / "videos" / "vidB-2.mp4").unlink()
    else:
        raise AssertionError(case)


DATA_CASES = {
    "malformed_jsonl_line": r"short.jsonl:4: malformed JSON",
    "record_missing_field": r"VDC_1k.jsonl:2: record lacks field 'video_id'",
    "non_utf8_text": r"VDC_1k.jsonl:4: not UTF-8 text",
    "path_traversal": r"VDC_1k.jsonl:2: video path .* escapes the data root",
    "missing_video_file": r"1 of 3 .*vidB-2",
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_annotations_stop_before_any_work_naming_file_and_line(tmp_path, case):
    root = write_root(tmp_path / "root", "hf_flat")
    data_case(root, case)
    with pytest.raises(VdcBenchError, match=DATA_CASES[case]):
        load_dimension(root, "short")


def test_duplicate_ids_and_empty_qa_lists_are_reported_not_fatal(tmp_path):
    root = write_root(tmp_path / "root", "hf_flat")
    qa = root / "VDCScore_qa" / "short.jsonl"
    with qa.open("a") as f:
        f.write(json.dumps({"vidA": [{"question": "again?", "answer": "yes"}]}) + "\n")
        f.write(json.dumps({"vidC_3": []}) + "\n")
    data = load_dimension(root, "short")
    assert [d["video_id"] for d in data.docs] == ["vidA", "vidB-2"]
    # The later record wins (vidC_3's is an empty QA list: not evaluated); both duplicates are listed.
    assert [d.video_id for d in data.report.duplicates] == ["vidA", "vidC_3"] and data.report.empty_qa == ["vidC_3"]
    assert "again?" in json.dumps(data.docs[0]["qa_list"])


# --- model args -------------------------------------------------------------------------------

MODEL_ARG_CASES = [
    ({"token_kept_ratio": "0"}, "token_kept_ratio must be in (0, 1], got 0.0"),
    ({"token_kept_ratio": "1.5"}, "token_kept_ratio must be in (0, 1], got 1.5"),
    ({"token_kept_ratio": "nan"}, "token_kept_ratio must be in (0, 1], got nan"),
    ({"token_kept_ratio": "half"}, "model arg token_kept_ratio='half': expected float"),
    ({"frames": "8"}, "unknown model arg 'frames'"),
]


@pytest.mark.parametrize(("args", "message"), MODEL_ARG_CASES, ids=lambda v: str(v)[:30])
def test_bad_model_args_are_one_clear_error(args, message):
    with pytest.raises(VdcBenchError) as err:
        AuroraCapSettings.from_model_args({"pretrained": "/some/ckpt", **args})
    assert message in str(err.value)


# --- samples files and the judge ---------------------------------------------------------------


def record(vid: str, caption: str = "A grey cat sleeps on a red sofa.", qa: list | None = None, **kw) -> dict:
    qa = [{"question": "What sleeps?", "answer": "a cat"}, {"question": "Where?", "answer": "on a sofa"}] if qa is None else qa
    return {"video_id": vid, "dimension": "short", "caption": caption, "qa": qa, "failed": False, **kw}


def write_samples(path: Path, lines: list) -> Path:
    with path.open("wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else (json.dumps({"vdc_acc": line}) + "\n").encode())
    return path


SAMPLES_CASES = {
    "malformed_line": ([record("v1"), b'{"vdc_acc": {"video_id": \n'], r"samples.jsonl:2: malformed JSON"),
    "missing_field": ([record("v1"), {k: v for k, v in record("v2").items() if k != "video_id"}],
                      r"samples.jsonl:2: missing field 'video_id'"),
    "duplicate_ids": ([record("v1"), record("v1")], r"video 'v1' appears twice for dimension 'short'"),
    "non_utf8": ([record("v1"), b'{"vdc_acc": {"video_id": "v\xff", "dimension": "short", "qa": []}}\n'],
                 r"samples.jsonl:2: not UTF-8 text"),
    "qa_not_a_list": ([record("v1", qa="not json")], r"samples.jsonl:1: field 'qa' is not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(SAMPLES_CASES))
def test_bad_samples_files_stop_before_any_judge_call(tmp_path, case):
    lines, message = SAMPLES_CASES[case]
    with pytest.raises(VdcBenchError, match=message):
        load_samples([write_samples(tmp_path / "samples.jsonl", lines)])


DIMENSION_LIST = "camera, short, background, main_object, detailed"
# A field of the wrong type is never coerced (a string "false" is true in Python, a list caption would be
# stringified and judged, an unknown dimension would be scored as a sixth one): the second line of the
# samples file carries the defect, and the message names file:line and the field.
RECORD_TYPE_CASES = {
    "failed_as_string": (record("v2", failed="false"), "field 'failed' must be true or false, got the string 'false'"),
    "caption_as_list": (record("v2", caption=["a", "b"]), "field 'caption' must be a string, got a list"),
    "caption_null": (record("v2", caption=None), "field 'caption' must be a string, got null"),
    "failed_null": (record("v2", failed=None), "field 'failed' must be true or false, got null"),
    "dimension_unknown": (record("v2", dimension="../../evil"),
                          f"field 'dimension' is '../../evil', not a VDC dimension ({DIMENSION_LIST})"),
    "video_id_as_number": (record(7), "field 'video_id' must be a string, got the number 7"),
    "answer_as_number": (record("v2", qa=[{"question": "How many cats?", "answer": 1}]),
                         "field 'qa[0].answer' must be a string, got the number 1"),
    "qa_item_not_an_object": (record("v2", qa=["What sleeps?"]),
                              "field 'qa[0]' must be a JSON object, got the string 'What sleeps?'"),
    "prompt_index_as_string": (record("v2", prompt_index="3"), "field 'prompt_index' must be an integer, got the string '3'"),
    "error_as_object": (record("v2", error={"why": "x"}), "field 'error' must be a string, got an object"),
    "stats_frames_as_string": (record("v2", stats={"frames": "16"}),
                               "field 'stats.frames' must be an integer, got the string '16'"),
    "stats_ratio_as_bool": (record("v2", stats={"token_kept_ratio": True}),
                            "field 'stats.token_kept_ratio' must be a number, got true"),
    "unknown_schema": (record("v2", schema="vdc-bench.sample/9"),
                       "field 'schema' must be 'vdc-bench.sample/1', got the string 'vdc-bench.sample/9'"),
    "record_not_an_object": ([1, 2], "the record must be a JSON object, got a list"),
}


@pytest.mark.parametrize("case", sorted(RECORD_TYPE_CASES))
def test_mistyped_sample_records_are_one_line_errors_naming_line_and_field(tmp_path, capsys, case):
    from vdc_bench.cli import main

    bad, message = RECORD_TYPE_CASES[case]
    samples = write_samples(tmp_path / "samples.jsonl", [record("v1"), bad])
    code = main(["score", str(samples), "--output", str(tmp_path / "out"), "--judge-base-url", "http://127.0.0.1:9/v1",
                 "--judge-model", "m"])
    assert code == 2
    assert capsys.readouterr().err == f"vdc-bench score: error: {samples}:2: {message}\n"
    assert not (tmp_path / "out").exists()  # stopped before any judging or writing


def _score(url: str, path: Path, out: Path, **kw) -> tuple[dict, list]:
    settings = JudgeSettings(base_url=url, model="stub-judge", concurrency=4, **kw)
    config = ScoringConfig(load_protocol(), out / "cache.sqlite", bootstrap_iters=100, progress=False)
    doc, judgements = score_captions(load_samples([path]), settings, config, out)
    return doc.to_dict(), judgements


def test_odd_captions_are_scored_and_flagged_the_rest_is_untouched(scoring_stub, tmp_path):
    """Empty caption, a caption longer than the judge's context, an empty QA list and a failed generation
    in one run: nothing crashes, every good QA is judged, each defect is counted in the report."""
    stub = scoring_stub()
    huge = "A dog runs. " * (MAX_CAPTION_CHARS // 6)
    samples = write_samples(tmp_path / "samples.jsonl", [
        record("good1"), record("empty", caption="   "), record("long", caption=huge), record("noqa", qa=[]),
        record("failed", caption="", failed=True, error="failed.mp4: cannot open video"), record("good2"),
    ])
    doc, judgements = _score(stub.url, samples, tmp_path / "out")
    counts = doc["counts"]
    assert counts["empty_captions"] == ["short/empty"]
    assert counts["captions_truncated"] == ["short/long"]
    assert counts["without_qa"] == ["short/noqa"] and counts["generation_failed"] == 1
    by_video = {}
    for j in judgements:
        by_video.setdefault(j.video_id, []).append(j)
    assert set(by_video) == {"good1", "empty", "long", "failed", "good2"}
    assert all(j.status == "ok" for v in ("good1", "good2", "empty", "long") for j in by_video[v])
    assert all(j.caption_truncated == (j.video_id == "long") for j in judgements)
    assert [j.status for j in by_video["failed"]] == ["generation_failed"] * 2
    assert doc["dimensions"]["short"]["failures"]["generation_failed"] == 2
    audit = (tmp_path / "out" / "vdcscore_audit.jsonl").read_text()
    assert '"caption_truncated": true' in audit


def test_unreachable_judge_url_fails_fast_naming_it(tmp_path):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    samples = write_samples(tmp_path / "samples.jsonl", [record("v1")])
    started = time.monotonic()
    with pytest.raises(VdcBenchError, match=rf"judge URL http://127.0.0.1:{port}/v1 is unreachable"):
        _score(f"http://127.0.0.1:{port}/v1", samples, tmp_path / "out", max_attempts=6)
    assert time.monotonic() - started < 5  # no retry/backoff cycle before the error
    assert not (tmp_path / "out" / "vdcscore_scores.json").exists()


def test_wrong_api_key_is_a_clear_401_and_keeps_what_was_judged(scoring_stub, tmp_path):
    good = scoring_stub()
    samples = write_samples(tmp_path / "samples.jsonl", [record("v1"), record("v2")])
    _score(good.url, samples, tmp_path / "out")  # judged once: its verdicts are in the cache
    more = write_samples(tmp_path / "more.jsonl", [record("v1"), record("v2"), record("v3", caption="A horse runs.")])
    rejecting = scoring_stub(fail_first=10**6, fault="401")
    with pytest.raises(VdcBenchError, match=r"answered HTTP 401: check .*OPENAI_API_KEY"):
        _score(rejecting.url, more, tmp_path / "out")
    assert rejecting.total_attempts >= 1
    doc, _ = _score(good.url, more, tmp_path / "out")  # a later run with the right key reuses the cache
    assert doc["calls"]["cache_hits"] == 2 * 2 * 2 and doc["calls"]["succeeded"] == 2 * 2


@pytest.mark.slow
def test_bad_videos_are_counted_and_the_rest_is_scored(scoring_stub, model_tiny_checkpoints, tmp_path):
    """One lmms-eval run (tiny random AuroraCap, ``vdc_short``) over a root whose videos are: one good demo clip,
    a zero-byte ``.mp4``, a text file named ``.mp4``, a video with an undecodable codec, and one missing
    (``VDC_ON_MISSING=skip``). The run finishes; the good video is judged; each bad one is a counted
    ``generation_failed`` whose error names its file."""
    from vdc_bench.dataset.demo import demo_annotations, ensure_demo_root
    from vdc_bench.dataset.root_writer import VIDEO_SUBDIR, VideoAnnotation, write_vdc_root
    from vdc_bench.runs.lmms_runner import run_lmms_eval

    good = demo_annotations()[0]
    demo_video = ensure_demo_root() / VIDEO_SUBDIR / good.file
    names = ["good.mp4", "zero.mp4", "text.mp4", "codec.mkv", "missing.mp4"]
    anns = [VideoAnnotation(Path(n).stem, n, good.captions, good.qa) for n in names]
    root = write_vdc_root(tmp_path / "root", anns)
    videos = root / VIDEO_SUBDIR
    (videos / "good.mp4").write_bytes(demo_video.read_bytes())
    (videos / "zero.mp4").touch()
    (videos / "text.mp4").write_text("not a video\n" * 50)
    (videos / "codec.mkv").write_bytes(bad_visual(tmp_path, "unsupported_codec").read_bytes())

    stub = scoring_stub()
    env = {"VDC_ROOT": str(root), "VDC_ON_MISSING": "skip", "VDC_JUDGE_BASE_URL": stub.url,
           "VDC_JUDGE_MODEL": "stub-judge", "VDC_VERDICT_CACHE": str(tmp_path / "verdicts.sqlite")}
    run = run_lmms_eval("auroracap", {"pretrained": model_tiny_checkpoints["xtuner"], "num_frm": 2}, ["vdc_short"],
                        tmp_path / "out", env=env, log_samples=True, gen_kwargs="max_new_tokens=6", timeout=900)
    samples = {s["vdc_acc"]["video_id"]: s["vdc_acc"] for s in run.read_samples("vdc_short")}
    assert set(samples) == {"good", "zero", "text", "codec"}  # the missing video is skipped (and logged)
    assert not samples["good"]["failed"]
    for vid, reason in (("zero", "empty file (0 bytes)"), ("text", "cannot open video"),
                        ("codec", "unsupported video codec")):
        assert samples[vid]["failed"] and reason in samples[vid]["error"], samples[vid]
    scores = json.loads(next((tmp_path / "out").rglob("vdcscore_*/vdcscore_scores.json")).read_text())
    n_qa = len(good.qa["short"])
    assert scores["counts"]["generation_failed"] == 3 and scores["counts"]["captions"] == 4
    assert scores["dimensions"]["short"]["failures"]["generation_failed"] == 3 * n_qa
    assert scores["dimensions"]["short"]["excluded_policy"]["n_qas"] == n_qa  # the good video was judged
    assert stub.total_served >= 2 * n_qa
    assert "skipping 1 video(s) whose file is missing: missing" in run.log_path.read_text()


@pytest.mark.slow
def test_judge_down_at_aggregation_keeps_the_lmms_eval_run(scoring_stub, tmp_path):
    """The lmms-eval run reaches the judge only at aggregation, after generation. A dead judge URL there must
    not end the run without output: the metrics are NaN with one error line, results and samples are written,
    and ``vdc-bench score`` scores the kept captions once the judge is up."""
    from vdc_bench.cli import main
    from vdc_bench.runs.lmms_runner import run_lmms_eval

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    env = {"VDC_JUDGE_BASE_URL": dead, "VDC_JUDGE_MODEL": "stub-judge", "VDC_VERDICT_CACHE": str(tmp_path / "v.sqlite")}
    run = run_lmms_eval("vdc_oracle", "", ["vdc_demo_short"], tmp_path / "out", env=env, limit=2, log_samples=True)
    result = run.results()["results"]["vdc_demo_short"]
    assert result["vdc_acc,none"] != result["vdc_acc,none"]  # NaN: not scored, not a fake number
    assert f"VDCscore not computed for ['short']: judge URL {dead} is unreachable" in run.log_path.read_text()
    assert len(run.read_samples("vdc_demo_short")) == 2

    stub = scoring_stub()
    assert main(["score", str(tmp_path / "out"), "--judge-base-url", stub.url, "--judge-model", "stub-judge",
                 "--cache", str(tmp_path / "v.sqlite"), "--quiet", "--output", str(tmp_path / "scored")]) == 0
    scores = json.loads((tmp_path / "scored" / "vdcscore_scores.json").read_text())
    assert scores["counts"]["captions"] == 2 and scores["dimensions"]["short"]["n_qas"] > 0
