"""Resumable generation end to end: real ``vdc-bench run`` processes (tiny random AuroraCap, ``vdc_demo``,
stub judge, CPU fp32) are SIGKILLed once some captions are in the caption cache, then run again with the
same command: only the missing captions are generated, and the samples and VDCscore results equal those of
an uninterrupted run. One process (the whole process group killed) and two torchrun ranks (one rank killed)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vdc_bench.runs.lmms_runner import CAPTION_CACHE_DIR, find_run

pytestmark = pytest.mark.slow

CAPTIONS = 10  # 5 dimensions x 2 videos
# what the adapter measured while generating: differs between any two runs, and for a caption from the cache
VOLATILE_STATS = {"decode_s", "preprocess_s", "vit_ms", "ttft_ms", "prefill_ms", "gen_s", "decode_tok_per_s",
                  "peak_mem_mb", "cached", "processes"}
ADAPTER_LINE = re.compile(r"auroracap rank (\d+): (\d+) of (\d+) captions from the caption cache, (\d+) generated")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def judge_url():
    from doubles.stub_judge_server import StubJudgeServer

    with StubJudgeServer() as stub:
        yield stub.url


def _command(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vdc_bench", "run", "--model", "auroracap", "--tasks", "vdc_demo",
            "--model_args", f"pretrained={checkpoint},num_frm=2", "--limit", "2", "--gen_kwargs", "max_new_tokens=16",
            "--output_path", str(out), *extra]


def _env(judge_url: str, out: Path) -> dict[str, str]:
    return {**os.environ, "VDC_JUDGE": "url", "VDC_JUDGE_BASE_URL": judge_url, "VDC_JUDGE_MODEL": "stub-judge",
            "VDC_VERDICT_CACHE": str(out.parent / f"{out.name}-verdicts.sqlite")}


def _outcome(out: Path) -> tuple[dict, dict]:
    """(samples by task with the measured times left out, VDCscore results) of the run under ``out``."""
    run = find_run(out)
    assert run is not None, f"no results under {out}"
    samples = {}
    for task in run.samples:
        rows = []
        for row in run.read_samples(task):
            for field in ("vdc_acc", "vdc_score"):
                stats = row[field]["stats"]
                row[field]["stats"] = {k: v for k, v in stats.items() if k not in VOLATILE_STATS}
            rows.append(row)
        samples[task] = rows
    return samples, run.results()["results"]


def _cache_lines(out: Path) -> list[tuple[Path, str]]:
    return [(path, line) for path in sorted((out / CAPTION_CACHE_DIR).glob("*/*.jsonl"))
            for line in path.read_text().splitlines()]


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model_tiny_checkpoints, judge_url):
    """The uninterrupted run (1 process, no caption cache): samples and results."""
    out = tmp_path_factory.mktemp("resume") / "uninterrupted"
    proc = subprocess.run(_command(model_tiny_checkpoints["xtuner"], out, "--no-caption-cache"),
                          env=_env(judge_url, out), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (out / CAPTION_CACHE_DIR).exists()
    samples, results = _outcome(out)
    assert sum(len(rows) for rows in samples.values()) == CAPTIONS
    assert results["vdc_demo"]["vdc_score,none"] != 999  # judged: real VDCscore values to compare
    return samples, results


def _resume(command: list[str], env: dict, out: Path, cached: int) -> str:
    """Run ``command`` again; check it generated only what the cache lacked. Returns its log."""
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = ANSI.sub("", (out / "lmms_eval.log").read_text())
    counts = [tuple(map(int, m.groups()[1:])) for m in ADAPTER_LINE.finditer(log)]
    assert sum(c[0] for c in counts) == cached and sum(c[1] for c in counts) == CAPTIONS
    assert sum(c[2] for c in counts) == CAPTIONS - cached
    keys = []
    for _, line in _cache_lines(out):
        with contextlib.suppress(json.JSONDecodeError):  # the line cut short by the kill
            keys.append(json.loads(line)["key"])
    assert len(keys) == len(set(keys)) == CAPTIONS  # every caption stored once: none generated twice
    return log


def test_one_process_killed_mid_generation_resumes_to_the_uninterrupted_results(
        tmp_path, model_tiny_checkpoints, judge_url, reference):
    out = tmp_path / "killed"
    command, env = _command(model_tiny_checkpoints["xtuner"], out), _env(judge_url, out)
    proc = subprocess.Popen(command, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(_cache_lines(out)) >= 3, proc, "3 captions were cached")
    finally:
        _kill_group(proc)  # vdc-bench and lmms-eval: the whole process group
    lines = _cache_lines(out)
    assert 3 <= len(lines) < CAPTIONS, "the run finished before the kill: nothing was resumed"
    assert find_run(out) is None
    # what a kill in the middle of a write leaves: the start of a line, without its newline
    path = lines[-1][0]
    with path.open("a") as f:
        f.write(lines[-1][1][:40])
    cut = len(path.read_text().splitlines())

    log = _resume(command, env, out, cached=len(lines))
    assert f"{path}:{cut}: incomplete caption-cache line skipped" in log
    samples, results = _outcome(out)
    assert (samples, results) == reference
    run = find_run(out)
    records = [row["vdc_acc"] for task in run.samples for row in run.read_samples(task)]
    assert sum(rec["stats"]["cached"] for rec in records) == len(lines)  # marked, with the stats made with them
    assert all(rec["stats"]["gen_s"] > 0 for rec in records)


def test_two_processes_one_rank_killed_mid_generation_resume_to_the_uninterrupted_results(
        tmp_path, model_tiny_checkpoints, judge_url, reference):
    out = tmp_path / "killed2"
    command, env = _command(model_tiny_checkpoints["xtuner"], out, "--nproc", "2"), _env(judge_url, out)
    proc = subprocess.Popen(command, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def rank1_file() -> Path | None:
        found = [p for p, _ in _cache_lines(out) if p.name.startswith("rank1-")]
        return found[0] if len(found) >= 2 else None

    try:
        _wait_for(lambda: rank1_file() is not None, proc, "rank 1 cached 2 captions")
        os.kill(int(rank1_file().stem.rsplit("-", 1)[1]), signal.SIGKILL)  # its file is named for its pid
        proc.wait(timeout=300)  # torchrun stops the other rank; vdc-bench reports the failure
    finally:
        _kill_group(proc)  # whatever is left
    assert proc.returncode != 0
    lines = _cache_lines(out)
    assert len(lines) < CAPTIONS, "the run finished before the kill: nothing was resumed"

    _resume(command, env, out, cached=len(lines))
    samples, results = _outcome(out)
    assert (samples, results) == reference  # fp32, batch 1: the process count does not change captions
