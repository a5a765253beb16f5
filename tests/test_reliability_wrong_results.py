"""No wrong number with exit 0: a judge that fails, random weights, damaged videos, clashing runs.

Each test names the exact one-line message and exit code a user sees.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from test_scoring_cli import RECORDS, write_samples

from vdc_bench.cli import main
from vdc_bench.lmms_tasks.vdc import metrics as lmms_metrics
from vdc_bench.scoring.caption_records import load_samples
from vdc_bench.scoring.judge_settings import resolve_judge
from vdc_bench.scoring.pipeline import ScoringConfig, score_captions
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.verdict_cache import CACHE_ENV

N_QAS = sum(len(json.loads(r["qa"])) for r in RECORDS)  # 27, 3 of them of a failed caption


@pytest.fixture
def failing_judge(monkeypatch, scoring_stub, tmp_path):
    """A judge that answers every call with HTTP 500."""
    server = scoring_stub(fail_first=10**9, fault="500")
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache.sqlite"))
    return server


def test_judge_failing_every_call_is_no_score_and_exit_1(failing_judge, tmp_path, capsys):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    out = tmp_path / "out"
    assert main(["score", str(samples), "--quiet", "--max-attempts", "1", "--output", str(out)]) == 1
    captured = capsys.readouterr()
    message = (f"judging failed for 24 of {N_QAS} QAs (24 judge_failed): not a VDCscore; fix the judge and score "
               "again (verdicts already judged come from the cache)")
    assert captured.err.strip().splitlines()[-1] == f"vdc-bench score: error: {message}"
    doc = json.loads((out / "vdcscore_scores.json").read_text())
    assert doc["judging"] == {"qas": N_QAS, "failed": 24, "judge_failed": 24, "parse_failed": 0}
    table = (out / "vdcscore_table.md").read_text()
    assert table.startswith(f"**NOT A VALID VDCscore: {message}.**")
    assert "| camera (NOT VALID: 12 QAs not judged) |" in table and "| camera |" not in table
    assert "NOT A VALID VDCscore" in captured.out


def test_garbage_replies_are_no_score_either(monkeypatch, scoring_stub, tmp_path, capsys):
    server = scoring_stub(fail_first=10**9, fault="garbage")
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    assert main(["score", str(samples), "--quiet", "--no-cache", "--output", str(tmp_path / "out")]) == 1
    assert "judging failed for 24 of 27 QAs (24 parse_failed)" in capsys.readouterr().err


def test_judge_failures_make_the_lmms_metric_nan_not_zero(failing_judge, monkeypatch, capsys):
    monkeypatch.setattr(lmms_metrics, "_SETTINGS", None)
    monkeypatch.setattr(lmms_metrics, "_SCORED", {})
    records = [r for r in RECORDS if not r["failed"]]
    lmms_metrics._SETTINGS = lmms_metrics.resolve_judge(max_attempts=1)
    assert math.isnan(lmms_metrics.aggregate_acc(records))
    assert math.isnan(lmms_metrics.aggregate_score(records))
    assert "[vdc-bench] ERROR: VDCscore not computed for ['background', 'camera']: judging failed for 24 of 24 QAs" \
        in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--max-attempts", "0", "argument --max-attempts: must be an integer >= 1, got '0'"),
    ("--reasks", "-1", "argument --reasks: must be an integer >= 0, got '-1'"),
    ("--concurrency", "0", "argument --concurrency: must be an integer >= 1, got '0'"),
    ("--concurrency", "-5", "argument --concurrency: must be an integer >= 1, got '-5'"),
    ("--timeout", "0", "argument --timeout: must be a number > 0, got '0'"),
    ("--max-tokens", "0", "argument --max-tokens: must be an integer >= 1, got '0'"),
    ("--temperature", "-1", "argument --temperature: must be a number >= 0, got '-1'"),
    ("--bootstrap-iters", "-1", "argument --bootstrap-iters: must be an integer >= 0, got '-1'"),
])
def test_bad_judge_numbers_stop_at_parse_time(tmp_path, capsys, option, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(tmp_path / "none.jsonl"), option, value])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"vdc-bench score: error: {message}"


def test_judge_settings_from_code_are_checked_too():
    from vdc_bench.errors import VdcBenchError
    from vdc_bench.scoring.judge_settings import JudgeSettings

    with pytest.raises(VdcBenchError, match=r"^judge setting concurrency must be >= 1, got 0$"):
        JudgeSettings(base_url="http://127.0.0.1:9/v1", model="m", concurrency=0)


def make_run(folder: Path, records: list[dict], model: str = "auroracap", model_args: str = "") -> Path:
    """What an lmms-eval run with the VDC tasks leaves: results and samples files, then the scores of the
    real scoring pipeline with the judge of the environment, as the VDC aggregation writes them."""
    run_dir = folder / "model"
    run_dir.mkdir(parents=True)
    samples = write_samples(run_dir / "20260101_000000_samples_vdc_camera.jsonl", records)
    (run_dir / "20260101_000000_results.json").write_text(json.dumps(
        {"config": {"model": model, "model_args": model_args}, "results": {"vdc_camera": {}}}))
    config = ScoringConfig(protocol=load_protocol("vdcscore-v1"), cache_path=None, progress=False)
    score_captions(load_samples([str(samples)]), resolve_judge(max_attempts=1), config,
                   folder / "vdcscore_20260101_000000")
    return folder


def fake_lmms_eval(records: list[dict]):
    """Stands in for the lmms-eval subprocess of a sweep; its samples record the ratio as the adapter does."""
    def run(model, model_args, tasks, folder, **_):
        ratio = float(dict(p.split("=", 1) for p in model_args.split(","))["token_kept_ratio"])
        recorded = [dict(r, stats={**r.get("stats", {}), "token_kept_ratio": ratio}) for r in records]
        return make_run(folder, recorded, model, model_args)

    return run


def test_sweep_ratio_with_failed_judging_is_not_done_and_rerun_rejudges(failing_judge, monkeypatch, tmp_path):
    from vdc_bench.runs import sweep
    from vdc_bench.runs.run_summary import RunSummary

    records = [r for r in RECORDS if r["dimension"] == "camera" and not r["failed"]]
    monkeypatch.setattr(sweep, "run_lmms_eval", fake_lmms_eval(records))
    config = sweep.SweepConfig(output=tmp_path / "sw", ratios=[0.5], progress=False)
    with pytest.raises(sweep.VdcBenchError) as err:
        sweep.run_sweep(config)
    assert str(err.value).startswith("ρ=0.5: judging failed for 12 of 12 QAs (12 judge_failed): not a VDCscore;")
    assert not (sweep.ratio_dir(config.output, 0.5) / sweep.DONE_FILE).exists()
    failing_judge.config.fail_first = 0  # the judge is fixed: the rerun judges again and gets a real number
    sweep.run_sweep(config)
    summary = RunSummary.load(sweep.ratio_dir(config.output, 0.5) / sweep.SUMMARY_FILE)
    assert summary.judging_failure is None and summary.overall().acc > 0


CAMERA = [r for r in RECORDS if r["dimension"] == "camera" and not r["failed"]]


def test_report_and_leaderboard_say_judging_failed(failing_judge, tmp_path, capsys):
    from vdc_bench.reporting.report import write_report

    run = make_run(tmp_path / "run", CAMERA)
    html, md = write_report(run)
    message = "judging failed for 12 of 12 QAs (12 judge_failed): not a VDCscore"
    assert f"> **NOT A VALID VDCscore (run): {message};" in md.read_text()
    assert "| run | NOT VALID (QAs not judged) 0.00" in md.read_text()
    assert f"NOT A VALID VDCscore (run): {message};" in html.read_text()
    board = tmp_path / "board.json"
    assert main(["leaderboard", "--board", str(board), "add", str(run)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"vdc-bench leaderboard: error: {run}/vdcscore_20260101_000000/vdcscore_scores.json: {message}; fix the "
        "judge and score again (verdicts already judged come from the cache); not added to the leaderboard")
    assert not board.exists()


@pytest.fixture
def healthy_judge(monkeypatch, scoring_stub):
    server = scoring_stub()
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    return server


def test_random_weights_are_flagged_and_never_ranked(healthy_judge, tmp_path, capsys):
    from vdc_bench.leaderboard.board import load_board
    from vdc_bench.reporting.report import write_report
    from vdc_bench.runs.run_summary import summarize_run

    records = [dict(r, stats={"random_weights": True, "frames": 2}) for r in CAMERA]
    run = make_run(tmp_path / "run", records)
    assert summarize_run(run).random_weights is True
    html, md = write_report(run)
    banner = ("RANDOM WEIGHTS (run): the checkpoint is marked as random weights; its captions are gibberish and "
              "its numbers are not results of any model.")
    assert f"> **{banner}**" in md.read_text() and banner in html.read_text()
    assert "| run | RANDOM WEIGHTS " in md.read_text()
    board = tmp_path / "board.json"
    # Even when added as a real run, it goes to the unranked section.
    assert main(["leaderboard", "--board", str(board), "add", str(run), "--kind", "run", "--name", "lucky"]) == 0
    entry = next(e for e in load_board(board) if e.model == "lucky")
    assert entry.kind == "demo" and entry.note == "demo: random weights, not a result"
    assert main(["leaderboard", "--board", str(board), "render"]) == 0
    text = (tmp_path / "leaderboard.md").read_text()
    ranked, unranked = text.split("## Unranked: demo and random-weight rows (pipeline checks, not results)")
    assert "lucky" not in ranked and "| – | lucky (demo: random weights, not a result) |" in unranked
    assert 'id="unranked"' in (tmp_path / "leaderboard.html").read_text()


def truncated_real_clip(model_asset_videos, tmp_path: Path, keep: float = 0.3) -> Path:
    """bigbuckbunny.mp4 with its index moved to the front (as web-optimised MP4s have it, by a lossless
    packet copy), then cut: the index still promises 132 frames, the bytes hold about a third of them."""
    import av

    fast = tmp_path / "faststart.mp4"
    with av.open(str(model_asset_videos["bigbuckbunny.mp4"])) as src, \
            av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])
    return cut


def test_truncated_video_is_captioned_from_its_decodable_frames_and_flagged(model_asset_videos, tmp_path):
    from vdc_bench.models.auroracap.video_io import load_visual

    visual = load_visual(truncated_real_clip(model_asset_videos, tmp_path), 8)
    # Not [0, 18, 24, 24, 24, 24, 24, 24] (the last frame padded in): uniform over the 25 frames that decode.
    assert visual.frame_indices == [0, 3, 6, 10, 13, 17, 20, 24]
    assert visual.total_frames == 25 and visual.frames_in_header == 132 and visual.damaged
    assert not load_visual(model_asset_videos["bigbuckbunny.mp4"], 8).damaged


def test_sample_stats_flag_damaged_videos_and_random_weights(model_tiny_checkpoints, model_asset_videos, tmp_path):
    import torch

    from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
    from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings

    settings = AuroraCapSettings.from_model_args({"pretrained": str(model_tiny_checkpoints["hf"]), "num_frm": 4})
    captioner = AuroraCapCaptioner(settings, torch.device("cpu"))
    cut = truncated_real_clip(model_asset_videos, tmp_path)
    requests = [CaptionRequest("Describe.", [str(cut)]),
                CaptionRequest("Describe.", [str(model_asset_videos["bigbuckbunny.mp4"])])]
    damaged, whole = captioner.caption_batch(requests, GenerationSettings(max_new_tokens=2))
    assert damaged.stats["video_damaged"] is True and damaged.stats["frames_in_header"] == [132]
    assert damaged.stats["total_frames"] == [25] and damaged.stats["frame_indices"] == [0, 8, 16, 24]
    assert whole.stats["video_damaged"] is False
    assert damaged.stats["random_weights"] is True and whole.stats["random_weights"] is True


def test_report_counts_damaged_videos(healthy_judge, tmp_path):
    from vdc_bench.reporting.report import write_report
    from vdc_bench.runs.run_summary import summarize_run

    records = [dict(r, stats={"video_damaged": r["video_id"] == "v1"}) for r in CAMERA]
    run = make_run(tmp_path / "run", records)
    assert summarize_run(run).damaged_videos == ["camera/v1"]
    html, md = write_report(run)
    banner = ("DAMAGED VIDEOS (run): 1 captioned from only the frames that decode (truncated or corrupt files): "
              "camera/v1.")
    assert f"> **{banner}**" in md.read_text() and banner in html.read_text()


def test_report_and_leaderboard_flag_times_from_an_earlier_process(healthy_judge, tmp_path):
    """A resumed run's cached captions carry the times of the process that made them: every place that shows
    the run's timings says how many."""
    from vdc_bench.leaderboard.from_runs import entry_from_summary
    from vdc_bench.reporting.report import write_report
    from vdc_bench.runs.run_summary import summarize_run

    records = [dict(r, stats={"cached": r["video_id"] == "v1", "gen_s": 1.0}) for r in CAMERA]
    run = make_run(tmp_path / "run", records)
    summary = summarize_run(run)
    assert summary.efficiency.cached == 1
    html, md = write_report(run)
    banner = (f"RESUMED (run): 1 of {len(CAMERA)} captions were read from the caption cache of an earlier, killed "
              "process; their times (s/video, TTFT, decode tok/s, memory) were measured by that process.")
    assert f"> **{banner}**" in md.read_text() and banner in html.read_text()
    flag = f"resumed: 1 of {len(CAMERA)} captions' times are from an earlier, killed process"
    assert flag in entry_from_summary(summary).flags
    fresh = make_run(tmp_path / "fresh", [dict(r, stats={"cached": False}) for r in CAMERA])
    assert "RESUMED" not in write_report(fresh)[1].read_text()


def test_scoring_again_into_the_same_folder_keeps_the_earlier_result(healthy_judge, tmp_path, capsys):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    out = tmp_path / "out"
    assert main(["score", str(samples), "--quiet", "--no-cache", "--output", str(out)]) == 0
    first = json.loads((out / "vdcscore_scores.json").read_text())
    capsys.readouterr()
    healthy_judge.config.fail_first, healthy_judge.config.fault = 10**9, "500"  # another, broken judge
    assert main(["score", str(samples), "--quiet", "--no-cache", "--max-attempts", "1", "--output", str(out)]) == 1
    kept = out / "earlier" / first["created_utc"].replace(":", "")
    assert f"earlier result in {out} kept in {kept}" in capsys.readouterr().err
    assert json.loads((kept / "vdcscore_scores.json").read_text()) == first
    assert {p.name for p in kept.iterdir()} == {"vdcscore_scores.json", "vdcscore_table.md", "vdcscore_audit.jsonl"}
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "vdcscore_scores.json").stat().st_mode & 0o777 == 0o666 & ~umask  # as lmms-eval's, not 0600


@pytest.mark.parametrize(("out", "message"), [
    ("file", "{out}: the output folder is an existing file, not a folder"),
    ("/proc/vdc-bench-out", "{out}: cannot write the output folder (No such file or directory)"),
])
def test_bad_output_folder_fails_before_any_judge_call(healthy_judge, tmp_path, capsys, out, message):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    if out == "file":
        out = tmp_path / "taken.txt"
        out.write_text("x")
    assert main(["score", str(samples), "--quiet", "--no-cache", "--output", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "vdc-bench score: error: " + message.format(out=out)
    assert healthy_judge.total_attempts == 0


def test_second_sweep_on_one_folder_refuses(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "sw"
    out.mkdir()
    holder = subprocess.Popen(  # a first sweep, as far as the lock is concerned
        [sys.executable, "-c", "import sys, filelock; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); "
         "print('held', flush=True); sys.stdin.read()", str(out / ".sweep.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["sweep", "--output", str(out), "--ratios", "0.5", "--no-report"]) == 2
    finally:
        holder.communicate("")
    assert capsys.readouterr().err.strip() == (
        f"vdc-bench sweep: error: {out}: another vdc-bench sweep is running on this folder (it holds "
        f"{out / '.sweep.lock'}); wait for it to finish, or use another --output")
    assert [p.name for p in out.iterdir()] == [".sweep.lock"]


@pytest.mark.parametrize("escape", ["../../outside/secret", "ABSOLUTE"])
def test_video_ids_cannot_reach_outside_the_data_root(tmp_path, escape):
    from vdc_fixtures import write_root

    from vdc_bench.dataset.loader import load_dimension
    from vdc_bench.errors import VdcBenchError

    root = write_root(tmp_path / "data" / "root", "hf_nested")  # no video_name: the id names the file
    (tmp_path / "data" / "outside").mkdir()
    (tmp_path / "data" / "outside" / "secret.mp4").write_bytes(b"not yours")
    video_id = str(tmp_path / "data" / "outside" / "secret") if escape == "ABSOLUTE" else escape
    qa = root / "VDCScore_qa" / "short.jsonl"
    lines = qa.read_text().splitlines()
    qa.write_text("\n".join([*lines, json.dumps({video_id: [{"question": "q?", "answer": "a"}]})]) + "\n")
    with pytest.raises(VdcBenchError) as err:
        load_dimension(root, "short")
    assert str(err.value) == (f"{qa}:{len(lines) + 1}: video path {video_id!r} escapes the data root "
                              "(absolute or '..')")


def test_credentials_in_the_judge_url_are_in_no_written_file(healthy_judge, monkeypatch, tmp_path):
    from vdc_bench.reporting.report import write_report
    from vdc_bench.runs import sweep

    monkeypatch.setattr(sweep, "run_lmms_eval", fake_lmms_eval(CAMERA))
    secret_url = healthy_judge.url.replace("http://", "http://alice:hunter2-SECRET@") + "?token=tok-SECRET"
    config = sweep.SweepConfig(output=tmp_path / "sw", ratios=[0.5], progress=False,
                               judge_base_url=secret_url, judge_model="stub-judge")
    sweep.run_sweep(config)
    write_report(config.output)
    written = [p for p in config.output.rglob("*") if p.is_file()]
    assert {"sweep.json", "DONE.json", "report.html", "report.md"} <= {p.name for p in written}
    for path in written:
        assert b"SECRET" not in path.read_bytes(), path
    doc = json.loads((config.output / "sweep.json").read_text())
    assert doc["config"]["judge_base_url"] == healthy_judge.url.replace("http://", "http://***@") + "?token=***"


@pytest.mark.parametrize(("argv", "message"), [
    (["caption", "x.mp4", "--pretrained", "ckpt", "--num-beams", "0"],
     "vdc-bench caption: error: argument --num-beams: must be an integer >= 1, got '0'"),
    (["caption", "x.mp4", "--pretrained", "ckpt", "--max-new-tokens", "0"],
     "vdc-bench caption: error: argument --max-new-tokens: must be an integer >= 1, got '0'"),
    (["data", "make-synthetic", "--n", "2", "--output", "o", "--width", "0"],
     "vdc-bench data make-synthetic: error: argument --width: must be an integer >= 1, got '0'"),
    (["run", "--tasks", "vdc", "--nproc", "0"], "vdc-bench run: error: argument --nproc: must be an integer >= 1, got '0'"),
    (["run", "--tasks", "vdc", "--limit", "nan"], "vdc-bench run: error: argument --limit: must be a number > 0, got 'nan'"),
    (["sweep", "--output", "o", "--timeout", "-1"],
     "vdc-bench sweep: error: argument --timeout: must be a number > 0, got '-1'"),
    (["make-qa", "x", "--questions", "0"], "vdc-bench make-qa: error: argument --questions: must be an integer >= 1, got '0'"),
])
def test_bad_numbers_of_every_command_stop_at_parse_time(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_run_exits_1_when_lmms_eval_reports_nan_scores(monkeypatch, tmp_path, capsys):
    from vdc_bench.commands import run as run_command
    from vdc_bench.runs.lmms_runner import LmmsRun

    results = tmp_path / "out" / "m" / "20260101_000000_results.json"
    results.parent.mkdir(parents=True)
    # lmms-eval writes a NaN metric as the bare token NaN
    results.write_text('{"results": {"vdc_camera": {"alias": "vdc_camera", "vdc_acc,none": NaN, "vdc_score,none": NaN}}}')
    monkeypatch.setattr(run_command, "run_lmms_eval", lambda *a, **k: LmmsRun(results_path=results))
    assert main(["run", "--tasks", "vdc_camera", "--output_path", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == (
        "vdc-bench run: error: no VDCscore for vdc_camera vdc_acc, vdc_camera vdc_score (NaN: the judge failed; see "
        f"the log above); score the samples again with `vdc-bench score {tmp_path / 'out'}`")


def _broken_checkpoint(source: Path, dst: Path, case: str) -> Path:
    import shutil

    shutil.copytree(source, dst)
    if case == "truncated_safetensors":
        weights = dst / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif case == "projector_config":
        config = json.loads((dst / "projector" / "config.json").read_text())
        (dst / "projector" / "config.json").write_text(json.dumps(dict(config, hidden_act="relu")))
    elif case == "config_shape":
        config = json.loads((dst / "config.json").read_text())
        config["intermediate_size"] *= 2
        (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize(("case", "message"), [
    ("truncated_safetensors", "{ckpt}/model.safetensors: unreadable safetensors file (Error while deserializing "
                              "header: incomplete metadata, file not fully covered)"),
    ("config_shape", "{ckpt}: xtuner llm tensor model.layers.0.mlp.down_proj.weight has shape [64, 128] but the "
                     "config makes it [64, 256]: config and weights do not belong together"),
    ("projector_config", "{ckpt}/projector/config.json: projector hidden_act='relu' is not supported (AuroraCap's "
                         "projector has hidden_act='gelu')"),
    ("mistyped_local_path", "./no-such-checkpoint: checkpoint directory not found"),
    ("cuda_on_cpu", "device='cuda': CUDA is not available here; use device=auto or device=cpu"),
])
def test_caption_problems_are_one_line(model_tiny_checkpoints, tmp_path, capsys, monkeypatch, case, message):
    import torch

    if case == "cuda_on_cpu" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    ckpt = _broken_checkpoint(model_tiny_checkpoints["xtuner"], tmp_path / "ckpt", case)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # caption itself must keep a local path off the Hub
    pretrained = "./no-such-checkpoint" if case == "mistyped_local_path" else str(ckpt)
    argv = ["caption", str(tmp_path / "v.mp4"), "--pretrained", pretrained, "--max-new-tokens", "2"]
    assert main([*argv, "--device", "cuda"] if case == "cuda_on_cpu" else argv) == 2
    assert capsys.readouterr().err.strip() == "vdc-bench caption: error: " + message.format(ckpt=ckpt)


@pytest.mark.parametrize(("argv", "message"), [
    (["make-checkpoint", "--output", "{file}"], "vdc-bench make-checkpoint: error: {file}: the checkpoint folder is "
                                             "an existing file, not a folder"),
    (["demo", "--output", "{file}"], "vdc-bench demo: error: {file}: the demo folder is an existing file, not a folder"),
    (["demo", "--ratios", "0.1,x,1"], "vdc-bench demo: error: --ratios: '0.1,x,1' is not a comma-separated list of "
                                      "numbers"),
])
def test_output_problems_are_one_line_before_any_work(tmp_path, capsys, argv, message):
    file = tmp_path / "taken"
    file.write_text("x")
    assert main([a.format(file=file) for a in argv]) == 2
    assert capsys.readouterr().err.strip() == message.format(file=file)


def test_comparable_with_published_needs_the_published_judge_too(healthy_judge, tmp_path):
    samples = write_samples(tmp_path / "s_samples_x.jsonl", RECORDS)
    assert main(["score", str(samples), "--quiet", "--no-cache", "--output", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "vdcscore_scores.json").read_text())
    assert doc["protocol"]["same_prompts_as_published"] is True
    assert doc["protocol"]["comparable_with_published"] is False  # judged by stub-judge, not Llama-3.1-8B
    assert "— not the published judge (Llama-3.1-8B), NOT comparable with published VDCscore." in \
        (tmp_path / "out" / "vdcscore_table.md").read_text()


def test_empty_qas_are_listed_in_the_scores(healthy_judge, tmp_path):
    records = [dict(r) for r in CAMERA]
    qa = json.loads(records[0]["qa"])
    qa[1] = {"question": "", "answer": "", "category": "object"}
    records[0]["qa"] = json.dumps(qa)
    samples = write_samples(tmp_path / "s_samples_x.jsonl", records)
    assert main(["score", str(samples), "--quiet", "--no-cache", "--output", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "vdcscore_scores.json").read_text())
    assert doc["counts"]["empty_qas"] == ["camera/v0#1"]
    assert "* 1 QAs have an empty question or answer and were judged as they are: camera/v0#1." in \
        (tmp_path / "out" / "vdcscore_table.md").read_text()


def test_a_root_without_caption_file_warns_that_references_are_empty(tmp_path, caplog):
    from vdc_fixtures import write_root

    from vdc_bench.dataset.loader import load_dimension, log_report

    root = write_root(tmp_path / "root", "hf_nested")
    (root / "VDC_1k.jsonl").unlink()
    data = load_dimension(root, "short")
    log_report(data.report)
    assert f"VDC short: no caption file under {root}: every reference_caption is empty (vdc_oracle then equals " \
           "vdc_blind)" in caplog.text


def test_leaderboard_add_by_relative_and_absolute_path_is_one_row(healthy_judge, tmp_path, monkeypatch, capsys):
    from vdc_bench.leaderboard.board import load_board

    run = make_run(tmp_path / "run", CAMERA)
    board = tmp_path / "board.json"
    monkeypatch.chdir(tmp_path)
    assert main(["leaderboard", "--board", str(board), "add", "run"]) == 0
    assert main(["leaderboard", "--board", str(board), "add", str(run)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{board}: 0 added, 1 replaced")
    ours = [e for e in load_board(board) if e.kind != "published"]
    assert len(ours) == 1 and ours[0].id.startswith("run:sha256:") and Path(ours[0].source).is_absolute()


def test_judge_serve_does_not_silently_reuse_a_server_on_another_port(monkeypatch, capsys):
    from types import SimpleNamespace

    from vdc_bench.commands import judge as judge_command
    from vdc_bench.judge import server

    running = server.ServerState(pid=1, host="127.0.0.1", port=8001, model="judge.gguf", engine="llama-cpp",
                                 description="llama-cpp judge", log="x.log", owner_pid=None, started_at=0.0,
                                 command=[])
    monkeypatch.setattr(judge_command, "_spec", lambda args: SimpleNamespace(model="judge.gguf"))
    monkeypatch.setattr(server, "find_server", lambda model=None, port=None: running)
    assert main(["judge", "serve", "--port", "9100"]) == 2
    assert capsys.readouterr().err.strip() == (
        "vdc-bench judge: error: llama-cpp judge already serves judge.gguf at http://127.0.0.1:8001/v1, not at "
        "--port 9100: stop it first (vdc-bench judge stop --port 8001) or leave the option out")
    assert main(["judge", "serve"]) == 0  # no address asked for: reused
    assert capsys.readouterr().out.strip() == "http://127.0.0.1:8001/v1"


def test_lone_surrogate_caption_is_one_line_naming_file_and_line(tmp_path, capsys):
    samples = tmp_path / "s_samples_x.jsonl"
    record = dict(CAMERA[0], caption="a cyclist \ud800 rides")
    samples.write_text(json.dumps({"doc_id": 0, "vdc_acc": record}) + "\n")  # json escapes it as \ud800
    assert main(["score", str(samples), "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "m",
                 "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"vdc-bench score: error: {samples}:1: field 'caption' is not valid text (lone surrogate at character 10)")


def test_a_folder_with_two_runs_says_which_one_it_uses(healthy_judge, tmp_path, capsys):
    import time

    from vdc_bench.runs.run_summary import summarize_run

    run = make_run(tmp_path / "run", CAMERA)
    first = run / "model" / "20260101_000000_results.json"
    newer = run / "model" / "20260102_000000_results.json"
    newer.write_text(first.read_text())
    later = time.time() + 5
    os.utime(newer, (later, later))
    assert summarize_run(run).results_path == str(newer)
    assert capsys.readouterr().err.strip() == (
        f"warning: {run} holds 2 lmms-eval runs; using the newest, {newer} (give each run its own --output_path "
        "to avoid this)")


@pytest.mark.slow
def test_judge_unusable_inside_a_real_lmms_eval_run_is_no_number_and_exit_1(scoring_stub, tmp_path, monkeypatch,
                                                                            capsys):
    """End to end: every judge reply is prose (never a verdict). The lmms-eval metric is NaN, not 0, the
    combined scores file says it is not a VDCscore, and `vdc-bench run` exits 1 saying so."""
    server = scoring_stub(fail_first=10**9, fault="garbage")
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    monkeypatch.setenv("VDC_VERDICT_CACHE", str(tmp_path / "v.sqlite"))
    out = tmp_path / "out"
    assert main(["run", "--model", "vdc_oracle", "--tasks", "vdc_demo_short", "--output_path", str(out),
                 "--limit", "2"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "vdc-bench run: error: no VDCscore for vdc_demo_short vdc_acc, vdc_demo_short vdc_score (NaN: the judge "
        f"failed; see the log above); score the samples again with `vdc-bench score {out}`")
    results_file = next(out.rglob("*_results.json"))
    result = json.loads(results_file.read_text())["results"]["vdc_demo_short"]
    assert math.isnan(result["vdc_acc,none"]) and math.isnan(result["vdc_score,none"])
    scores = json.loads(next(out.rglob("vdcscore_*/vdcscore_scores.json")).read_text())
    assert scores["judging"]["failed"] == scores["judging"]["qas"] == scores["judging"]["parse_failed"] > 0


def test_data_check_names_ids_a_dimension_lacks_even_without_caption_file(tmp_path, capsys):
    from vdc_fixtures import write_root

    root = write_root(tmp_path / "root", "hf_nested")
    (root / "VDC_1k.jsonl").unlink()
    qa = root / "VDCScore_qa" / "main_object.jsonl"
    lines = qa.read_text().splitlines()
    dropped = next(iter(json.loads(lines[0])))
    qa.write_text("\n".join(lines[1:]) + "\n")
    main(["data", "check", "--root", str(root)])
    assert (f"  main_object: no QA for 1 video(s) the other dimensions have (not evaluated here): {dropped}"
            in capsys.readouterr().out)
