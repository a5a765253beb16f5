"""200 videos x 5 dimensions (~19 QAs each, VDC's shape) at concurrency 64: no verdict is lost.

The samples are the scoring benchmark's VDC-shaped synthetic records (``benchmarks/bench_scoring.py``
``make_samples``; the synthetic *video* set has only ~8 QAs per caption). ``vdc-bench score`` runs in its
own process against the stub judge (2 ms per call); its peak RSS is its VmHWM.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vdc_bench.scoring.score_files import AUDIT_NAME, SCORES_NAME

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_scoring import make_samples  # noqa: E402

pytestmark = pytest.mark.slow

VIDEOS = 200
# Memory bound: this run peaks at ~155 MB (~110 MB of it is the interpreter with openai, numpy and matplotlib
# loaded); the benchmark's 97k QAs peak at 182 MB. Twice the measured peak catches a leak per call or an
# import of torch at start-up (~760 MB).
RSS_LIMIT_MB = 300


def peak_rss_mb(proc: subprocess.Popen) -> float:
    """High-water RSS of ``proc`` (VmHWM, polled until it exits). Not ``wait4``'s ru_maxrss: Linux carries
    the pre-exec maximum over exec, i.e. the size of the forking pytest process."""
    peak_kb = 0
    while proc.poll() is None:
        try:
            match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{proc.pid}/status").read_text())
        except OSError:
            break
        if match:
            peak_kb = max(peak_kb, int(match.group(1)))
        time.sleep(0.05)
    return peak_kb / 1024


def test_200_videos_at_concurrency_64_lose_no_verdict(scoring_stub, tmp_path):
    samples = tmp_path / "synthetic_samples_vdc.jsonl"
    n_qas = make_samples(samples, VIDEOS, seed=9)
    assert 17 * 5 * VIDEOS < n_qas < 21 * 5 * VIDEOS  # about 19 QAs per caption
    stub = scoring_stub(latency_s=0.002)
    cache, out = tmp_path / "verdicts.sqlite", tmp_path / "out"
    cmd = [sys.executable, "-m", "vdc_bench", "score", str(samples), "--judge-base-url", stub.url, "--judge-model",
           "stub-judge", "--concurrency", "64", "--cache", str(cache), "--quiet", "--bootstrap-iters", "200",
           "--output", str(out)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_mb = peak_rss_mb(proc)
    stderr = proc.communicate()[1].decode()
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, stderr[-3000:]
    doc = json.loads((out / SCORES_NAME).read_text())
    calls = doc["calls"]
    print(f"\n{n_qas} QAs, {2 * n_qas} judge calls, concurrency 64: {elapsed:.1f} s wall, "
          f"{2 * n_qas / doc['elapsed_s']:.0f} calls/s while judging, peak RSS {peak_mb:.0f} MB; calls {calls}")

    assert doc["counts"]["qas"] == n_qas and doc["counts"]["captions"] == 5 * VIDEOS
    assert calls["succeeded"] == 2 * n_qas and calls["failed"] == 0 and calls["cache_hits"] == 0
    assert stub.total_served == 2 * n_qas  # every call answered exactly once
    audit = [json.loads(line) for line in (out / AUDIT_NAME).read_text().splitlines()]
    assert len(audit) == n_qas and all(j["status"] == "ok" for j in audit)
    assert len({(j["dimension"], j["video_id"], j["qa_index"]) for j in audit}) == n_qas
    assert sum(b["n_qas"] for b in doc["dimensions"].values()) == n_qas
    with sqlite3.connect(str(cache)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0] == 2 * n_qas
    assert peak_mb < RSS_LIMIT_MB
