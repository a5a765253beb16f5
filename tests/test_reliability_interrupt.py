"""Kill -9 at seeded points loses nothing and corrupts nothing.

Scoring: ``vdc-bench score`` against the stub judge, SIGKILLed at 10 seeded numbers of served verdicts
plus 2 seeded moments of a run that only reads the cache and writes its outputs. Generation: a
``vdc-bench sweep`` (tiny random AuroraCap, ``vdc_demo``, 2 ratios, stub judge) SIGKILLed with its
lmms-eval child at 10 seeded moments. After every kill the verdict cache passes SQLite's
``PRAGMA integrity_check`` and no result file on disk is partial; the final rerun gives exactly the
results of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.score_files import AUDIT_NAME, SCORES_NAME, TABLE_NAME

pytestmark = pytest.mark.slow

SEED = 20260901


def integrity_ok(path: Path) -> None:
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("SELECT COUNT(*) FROM replies").fetchone()
    finally:
        conn.close()


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # our own session: the command and every child it started
    proc.wait()


def write_samples(path: Path, n_videos: int, n_qa: int) -> Path:
    items = [CaptionItem(d, f"vid{v:02d}", f"The {d} view of video {v}: a boat crosses a lake while gulls circle.",
                         tuple(QAPair(f"Question {i} on video {v}?", f"answer {i}") for i in range(n_qa)))
             for d in ("camera", "short") for v in range(n_videos)]
    with path.open("w") as fh:
        for n, it in enumerate(items):
            rec = {"video_id": it.video_id, "dimension": it.dimension, "caption": it.caption, "failed": False,
                   "qa": [{"question": q.question, "answer": q.answer, "category": ""} for q in it.qa]}
            fh.write(json.dumps({"doc_id": n, "vdc_acc": rec}) + "\n")
    return path


def assert_outputs_whole(out: Path) -> None:
    """A result file under its final name is complete (the writers use temp file + rename)."""
    scores = out / SCORES_NAME
    if scores.exists():
        doc = json.loads(scores.read_text())  # raises on a half-written file
        assert doc["counts"]["qas"] > 0
        assert (out / AUDIT_NAME).exists() and (out / TABLE_NAME).exists()  # written before the scores JSON


def test_scoring_killed_at_seeded_points_resumes_to_identical_results(scoring_stub, tmp_path):
    samples = write_samples(tmp_path / "run_samples_vdc.jsonl", n_videos=8, n_qa=5)
    total_calls = 2 * 2 * 8 * 5
    stub = scoring_stub(latency_s=0.03)
    cache = tmp_path / "verdicts.sqlite"
    out = tmp_path / "killed"

    def cmd(url: str, cache_path: Path, out_dir: Path) -> list[str]:
        return [sys.executable, "-m", "vdc_bench", "score", str(samples), "--judge-base-url", url, "--judge-model",
                "stub", "--concurrency", "2", "--cache", str(cache_path), "--quiet", "--bootstrap-iters", "200",
                "--output", str(out_dir)]

    rng = random.Random(SEED)
    points = sorted(rng.sample(range(5, total_calls - 5), 10))
    cached_after = []
    for point in points:
        proc = subprocess.Popen(cmd(stub.url, cache, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while stub.total_served < point and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the run finished before its kill point"
        kill_group(proc)
        integrity_ok(cache)
        assert not (out / SCORES_NAME).exists()  # an interrupted run leaves no result that looks complete
        cached_after.append(sqlite3.connect(str(cache)).execute("SELECT COUNT(*) FROM replies").fetchone()[0])
    assert cached_after == sorted(cached_after) and 0 < cached_after[-1] < total_calls  # progress is kept

    # Two kills of runs that find every verdict cached: they die while starting, aggregating or writing.
    done = subprocess.run(cmd(stub.url, cache, tmp_path / "warm"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run_s = float(json.loads((tmp_path / "warm" / SCORES_NAME).read_text())["elapsed_s"] or 0) + 1.0
    for delay in sorted(rng.uniform(0.5, 2.0 + run_s) for _ in range(2)):
        proc = subprocess.Popen(cmd(stub.url, cache, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            kill_group(proc)
        integrity_ok(cache)
        assert_outputs_whole(out)

    served_before = stub.total_served
    final = subprocess.run(cmd(stub.url, cache, out), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert stub.total_served == served_before  # everything came from the cache
    integrity_ok(cache)

    clean_stub = scoring_stub()
    clean = subprocess.run(cmd(clean_stub.url, tmp_path / "clean.sqlite", tmp_path / "clean"), capture_output=True,
                           text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    resumed, uninterrupted = (json.loads((d / SCORES_NAME).read_text()) for d in (out, tmp_path / "clean"))
    for key in ("dimensions", "vdcscore", "counts", "protocol"):
        assert resumed[key] == uninterrupted[key]
    assert (out / AUDIT_NAME).read_text() == (tmp_path / "clean" / AUDIT_NAME).read_text()


def _sweep_results(output: Path) -> dict:
    """Per ratio: VDCscore numbers and every judged QA (its judge replies derive from the caption)."""
    from vdc_bench.runs.sweep import load_sweep

    _, points = load_sweep(output / "sweep.json")
    out = {}
    for point in points:
        scores = json.loads(Path(point.scores_path).read_text())
        audit = [json.loads(line) for line in Path(point.audit_path).read_text().splitlines()]
        out[point.token_kept_ratio] = {"dimensions": scores["dimensions"], "vdcscore": scores["vdcscore"],
                                       "counts": scores["counts"],
                                       "audit": sorted(audit, key=lambda j: (j["dimension"], j["video_id"]))}
    return out


def _check_after_kill(output: Path, cache: Path) -> None:
    if cache.exists():
        integrity_ok(cache)
    for done in output.glob("ratio_*/DONE.json"):
        marker = json.loads(done.read_text())  # complete, or it would not exist (temp file + rename)
        assert Path(marker["results_path"]).is_file() and Path(marker["scores_path"]).is_file()
        json.loads(Path(marker["scores_path"]).read_text())
        json.loads((done.parent / "summary.json").read_text())
    if (output / "sweep.json").exists():
        json.loads((output / "sweep.json").read_text())


def test_generation_killed_at_seeded_points_resumes_to_identical_results(scoring_stub, model_tiny_checkpoints,
                                                                         tmp_path):
    """kill -9 of ``vdc-bench sweep`` and its lmms-eval child (tiny random AuroraCap, vdc_demo --limit 1,
    2 ratios) at 10 seeded moments; the finished rerun equals an uninterrupted sweep."""
    stub = scoring_stub()

    def cmd(output: Path) -> list[str]:
        return [sys.executable, "-m", "vdc_bench", "sweep", "--model", "auroracap", "--tasks", "vdc_demo",
                "--model_args", f"pretrained={model_tiny_checkpoints['xtuner']},num_frm=2", "--limit", "1",
                "--gen_kwargs", "max_new_tokens=6", "--ratios", "0.2,1.0", "--output", str(output),
                "--judge-base-url", stub.url, "--judge-model", "stub-judge", "--demo"]

    def env(cache: Path) -> dict[str, str]:
        return {**os.environ, "VDC_VERDICT_CACHE": str(cache)}

    started = time.monotonic()
    baseline = subprocess.run(cmd(tmp_path / "clean"), env=env(tmp_path / "clean.sqlite"), capture_output=True,
                              text=True, timeout=900)
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    full_s = time.monotonic() - started

    output, cache = tmp_path / "killed", tmp_path / "killed.sqlite"

    def run_and_kill(delay: float | None = None, wait_for: Path | None = None) -> str:
        """Start the sweep; SIGKILL it after ``delay`` s or as soon as ``wait_for`` exists."""
        proc = subprocess.Popen(cmd(output), env=env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        t0 = time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 600:
            if (delay is not None and time.monotonic() - t0 >= delay) or (wait_for is not None and wait_for.exists()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before its kill point"
        kill_group(proc)
        _check_after_kill(output, cache)
        return f"{time.monotonic() - t0:.1f}s" + (f" ({wait_for.name})" if wait_for else "")

    # Timed kills stay under one ratio's time, so each lands inside the unfinished ratio (lmms-eval start-up,
    # generation or judging); two kills wait for a stage boundary: after the first ratio's DONE marker
    # (the next ratio starting) and after sweep.json (the report being written).
    rng = random.Random(SEED + 1)
    timed = [rng.uniform(2.0, 0.4 * full_s) for _ in range(8)]
    kills = [run_and_kill(delay=d) for d in timed[:4]]
    kills.append(run_and_kill(wait_for=output / "ratio_0.2" / "DONE.json"))
    kills += [run_and_kill(delay=d) for d in timed[4:]]
    kills.append(run_and_kill(wait_for=output / "sweep.json"))
    print(f"\nuninterrupted sweep {full_s:.0f} s; killed at {kills}")
    assert len(kills) == 10

    final = subprocess.run(cmd(output), env=env(cache), capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    _check_after_kill(output, cache)
    assert _sweep_results(output) == _sweep_results(tmp_path / "clean")
