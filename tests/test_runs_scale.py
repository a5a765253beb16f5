"""Running at scale: batch size, processes, launcher and further lmms-eval flags through run/sweep/demo;
the timeout holding while output is streamed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from vdc_bench.cli import build_parser
from vdc_bench.errors import VdcBenchError
from vdc_bench.runs import lmms_runner
from vdc_bench.runs.lmms_runner import LmmsEvalFailed, check_extra_args, run_lmms_eval
from vdc_bench.runs.run_summary import locate_run, vdc_records
from vdc_bench.runs.sweep import DONE_FILE, SweepConfig, ratio_dir


@pytest.mark.parametrize("command", ["run", "sweep", "demo"])
def test_launch_options_and_lmms_flags_after_double_dash(command):
    required = {"run": ["--tasks", "vdc"], "sweep": ["--output", "x"], "demo": []}[command]
    args = build_parser().parse_args([command, *required, "--batch_size", "4", "--nproc", "2", "--launcher",
                                      "accelerate", "--", "--wandb_args", "project=vdc", "--seed", "1"])
    assert (args.batch_size, args.nproc, args.launcher) == (4, 2, "accelerate")
    assert args.lmms_args == ["--wandb_args", "project=vdc", "--seed", "1"]
    plain = build_parser().parse_args([command, *required])
    assert (plain.batch_size, plain.nproc, plain.launcher, plain.lmms_args) == (1, 1, "torchrun", [])


def test_flags_vdc_bench_sets_itself_are_refused_after_double_dash():
    check_extra_args(["--verbosity", "DEBUG", "--offset", "5"])
    for flag in ("--batch_size", "--batch_size=8", "--tasks", "--model_args", "--predict_only"):
        with pytest.raises(VdcBenchError, match="set by vdc-bench itself"):
            check_extra_args([flag, "1"])
    with pytest.raises(VdcBenchError, match="nproc"):
        SweepConfig(output="x", nproc=0)
    with pytest.raises(VdcBenchError, match="launcher"):
        SweepConfig(output="x", launcher="mpirun")


def test_batch_size_processes_and_flags_enter_the_sweep_fingerprint_only_when_set(tmp_path):
    base = SweepConfig(output=tmp_path).fingerprint(0.5)
    assert not {"batch_size", "nproc", "lmms_args"} & set(base)  # sweeps begun before these options still resume
    scaled = SweepConfig(output=tmp_path, batch_size=4, nproc=2, launcher="accelerate",
                         lmms_args=["--seed", "1"]).fingerprint(0.5)
    assert scaled == {**base, "batch_size": 4, "nproc": 2, "lmms_args": ["--seed", "1"]}
    assert SweepConfig(output=tmp_path, launcher="accelerate").fingerprint(0.5) == base


def test_timeout_holds_while_streaming_and_kills_every_process_below_the_launcher(tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    # A stand-in launcher: prints, starts a "rank" that outlives it unless killed, and never ends.
    script = ("import subprocess, sys, time; print('launching', flush=True); "
              "rank = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              f"open({str(pids)!r}, 'w').write(str(rank.pid)); time.sleep(120)")
    monkeypatch.setattr(lmms_runner, "lmms_eval_command", lambda *a, **k: [sys.executable, "-c", script])
    started = time.monotonic()
    with pytest.raises(LmmsEvalFailed, match="timeout of 3 s"):
        run_lmms_eval("m", "", ["t"], tmp_path / "out", echo=True, timeout=3)
    assert time.monotonic() - started < 30
    rank = int(pids.read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(rank) and psutil.Process(rank).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the rank survived the timeout"
        time.sleep(0.1)
    assert "launching" in (tmp_path / "out" / "lmms_eval.log").read_text()


def _captions(folder) -> dict[str, str]:
    return {f"{r.dimension}/{r.video_id}": r.caption for r in vdc_records(locate_run(folder))}


@pytest.mark.slow
def test_sweep_with_batch_4_on_2_processes_captions_like_batch_1(tmp_path, model_tiny_checkpoints):
    """Real sweeps on CPU (fp32, gloo): batch 1 in one process, then batch 4 on 2 accelerate processes with
    an lmms-eval flag after '--'; the captions are identical and the runtime is recorded."""
    from doubles.stub_judge_server import StubJudgeServer

    common = ["--model", "auroracap", "--tasks", "vdc_demo", "--model_args",
              f"pretrained={model_tiny_checkpoints['xtuner']},num_frm=2", "--limit", "4",
              "--gen_kwargs", "max_new_tokens=8", "--ratios", "0.5", "--demo", "--no-report"]
    env = {**os.environ, "VDC_VERDICT_CACHE": str(tmp_path / "verdicts.sqlite")}
    runs = {}
    with StubJudgeServer() as stub:
        judge = ["--judge-base-url", stub.url, "--judge-model", "stub-judge"]
        for name, extra in (("b1", []), ("b4n2", ["--batch_size", "4", "--nproc", "2", "--launcher", "accelerate",
                                                  "--", "--seed", "7,7,7,7"])):
            out = tmp_path / name
            proc = subprocess.run([sys.executable, "-m", "vdc_bench", "sweep", *common, *judge, "--output", str(out),
                                   *extra], env=env, capture_output=True, text=True, timeout=1200)
            assert proc.returncode == 0, proc.stderr[-3000:]
            runs[name] = out
    one, scaled = (ratio_dir(runs[n], 0.5) for n in ("b1", "b4n2"))
    reference = _captions(one)
    assert len(reference) == 20 and reference == _captions(scaled)
    summary = json.loads((scaled / "summary.json").read_text())
    assert summary["runtime"]["processes"] == 2 and summary["runtime"]["max_batch_size"] == 4
    assert summary["config"]["batch_size"] == "4" and summary["config"]["random_seed"] == 7  # as lmms-eval records them
    assert json.loads((one / "summary.json").read_text())["runtime"]["max_batch_size"] == 1
    done = json.loads((scaled / DONE_FILE).read_text())
    assert done["fingerprint"]["nproc"] == 2 and done["fingerprint"]["lmms_args"] == ["--seed", "7,7,7,7"]
    log = (scaled / "lmms_eval.log").read_text().splitlines()[0]
    assert "accelerate.commands.launch --num_processes 2" in log and "--batch_size 4" in log
