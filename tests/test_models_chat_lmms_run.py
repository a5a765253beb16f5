"""Real lmms-eval chat models on the VDC demo tasks (``python -m lmms_eval --tasks vdc_demo``), scored
end to end by VDCscore with the stub judge.

(a) lmms-eval's ``llava_hf`` chat model on a tiny random-weight LLaVA-OneVision checkpoint built here;
(b) lmms-eval's ``openai`` chat model against a local multimodal stub captioner (the way vLLM, SGLang
and hosted APIs are reached), which checks every request carries the video and the prompt.
lmms-eval exits 0 after most errors, so every check reads the result and samples files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.task_docs import build_task_docs
from vdc_bench.runs.lmms_runner import run_lmms_eval


def _demo_docs() -> dict[str, dict]:
    return {d["sample_key"]: d for dim in DIMENSIONS for d in build_task_docs({"dimension": dim, "source": "demo"}).docs}


def _records(run) -> dict[str, dict]:
    assert set(run.samples) == {f"vdc_demo_{d}" for d in DIMENSIONS}
    return {s["vdc_acc"]["sample_key"]: s["vdc_acc"] for task in run.samples for s in run.read_samples(task)}


def _score(run_dir, out, stub) -> dict:
    from vdc_bench.cli import main

    out_args = ["--output", str(out)] if out else []  # default: <run_dir>/vdcscore
    assert main(["score", str(run_dir), "--judge-base-url", stub.url, "--judge-model", "stub-judge",
                 "--quiet", *out_args]) == 0
    return json.loads(((out or run_dir / "vdcscore") / "vdcscore_scores.json").read_text())


def _leaderboard_row(scores_path, board):
    """``vdc-bench leaderboard add`` of the scores file: the row of this run, found from the scores alone."""
    from vdc_bench.cli import main
    from vdc_bench.leaderboard.board import load_board

    assert main(["leaderboard", "--board", str(board), "add", str(scores_path)]) == 0
    (row,) = [e for e in load_board(board) if e.kind != "published"]
    return row


def _assert_scored(scores: dict, n_captions: int) -> None:
    assert scores["counts"]["captions"] == n_captions
    assert scores["counts"]["generation_failed"] == 0 and scores["counts"]["empty_captions"] == []
    assert scores["vdcscore"]["complete"] is True and scores["vdcscore"]["n_dimensions"] == 5
    assert scores["vdcscore"]["n_qas"] > 0 and 0 <= scores["vdcscore"]["acc"] <= 100


@pytest.mark.slow
def test_llava_hf_chat_model_captions_the_videos_and_is_scored(tmp_path, scoring_stub):
    import torch
    from tiny_llava_onevision import NUM_FRAMES, build_tiny_llava_onevision
    from transformers import AutoProcessor, LlavaOnevisionForConditionalGeneration

    ckpt = build_tiny_llava_onevision(tmp_path / "ckpt")
    run = run_lmms_eval("llava_hf", {"pretrained": ckpt, "trust_remote_code": True, "device": "cpu",
                                     "device_map": "cpu", "dtype": "float32"},
                        ["vdc_demo"], tmp_path / "out", predict_only=True, limit=1, gen_kwargs="max_new_tokens=6",
                        env={"HF_HOME": str(tmp_path / "hf")}, timeout=900)
    assert run.results()["config"]["model_backend"] == "lmms_eval.models.chat.llava_hf.LlavaHf (chat)"
    records = _records(run)
    assert len(records) == 5

    # Each logged caption is exactly what the model generates from that doc's video frames and prompt.
    processor = AutoProcessor.from_pretrained(ckpt, trust_remote_code=True)
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(ckpt).eval()
    docs = _demo_docs()
    for key, rec in records.items():
        doc = docs[key]
        assert rec["prompt"] == doc["prompt"] and rec["failed"] is False and rec["caption"]
        turn = [{"role": "user", "content": [{"type": "video", "url": doc["video_path"]},
                                             {"type": "text", "text": doc["prompt"]}]}]
        text = processor.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
        inputs = processor(images=[], videos=[doc["video_path"]], text=text, return_tensors="pt")
        assert inputs["pixel_values_videos"].shape[:2] == (1, NUM_FRAMES)
        eos = processor.tokenizer.eos_token_id
        with torch.no_grad():
            out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=6, pad_token_id=eos,
                                 eos_token_id=eos)
        expected = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        assert rec["caption"] == expected.strip(), key

    scores = _score(tmp_path / "out", None, scoring_stub())
    _assert_scored(scores, 5)
    row = _leaderboard_row(tmp_path / "out" / "vdcscore" / "vdcscore_scores.json", tmp_path / "board.json")
    assert row.model == f"llava_hf {Path(ckpt).name}" and row.judge_model == "stub-judge"
    assert row.average.acc == scores["vdcscore"]["acc"]


@pytest.mark.slow
def test_openai_chat_model_sends_video_and_prompt_and_is_scored(tmp_path, scoring_stub):
    from doubles.stub_captioner_server import StubCaptionerServer

    with StubCaptionerServer() as captioner:
        # pass_video_url: the server decodes the video (vLLM's way); client-side frame extraction
        # needs qwen-vl-utils with torchvision, which has no CPU build on the registries used here.
        run = run_lmms_eval("openai", {"model": "stub-captioner", "base_url": captioner.url, "api_key": "none",
                                       "pass_video_url": True, "max_frames_num": 4, "num_concurrent": 2,
                                       "max_retries": 1},
                            ["vdc_demo"], tmp_path / "out", predict_only=True, limit=2,
                            env={"HF_HOME": str(tmp_path / "hf")}, timeout=900)
        received = {(r.video_path, r.prompt): r for r in captioner.received}
    assert run.results()["config"]["model_backend"] == "lmms_eval.models.chat.openai.OpenAICompatible (chat)"
    records = _records(run)
    assert len(records) == len(received) == 10
    docs = _demo_docs()
    for key, rec in records.items():
        doc = docs[key]
        got = received[(doc["video_path"], doc["prompt"])]  # this doc's own video and prompt reached the server
        assert got.frames == 4
        assert rec["failed"] is False
        assert rec["caption"].startswith(f"A video seen as 4 frames of {got.frame_sizes[0][0]}x{got.frame_sizes[0][1]}")

    scores = _score(tmp_path / "out", tmp_path / "scored", scoring_stub())
    _assert_scored(scores, 10)
    row = _leaderboard_row(tmp_path / "scored" / "vdcscore_scores.json", tmp_path / "board.json")
    assert row.model == "openai stub-captioner" and row.run_config["model_args"].startswith("model=stub-captioner")
    assert row.average.score == scores["vdcscore"]["score"]


@pytest.mark.slow
def test_openai_chat_model_failures_are_failed_generations_not_captions(tmp_path, scoring_stub):
    """A server that rejects every request: lmms-eval exits 0 with placeholders as captions; they must
    reach scoring as failed generations."""
    from doubles.stub_captioner_server import StubCaptionerServer

    with StubCaptionerServer() as captioner:
        # A base URL with no chat route: every request fails (HTTP 404).
        run = run_lmms_eval("openai", {"model": "stub-captioner", "base_url": captioner.url + "/nowhere",
                                       "api_key": "none", "pass_video_url": True, "max_retries": 1,
                                       "retry_backoff_s": 0},
                            ["vdc_demo_short"], tmp_path / "out", predict_only=True, limit=2,
                            env={"HF_HOME": str(tmp_path / "hf")}, timeout=600)
    recs = [s["vdc_acc"] for s in run.read_samples("vdc_demo_short")]
    assert len(recs) == 2 and all(r["failed"] and "LMMS_EVAL_REQUEST_FAILED" in r["error"] for r in recs)
    scores = _score(tmp_path / "out", tmp_path / "scored", scoring_stub())
    assert scores["counts"]["generation_failed"] == 2
