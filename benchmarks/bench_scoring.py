"""VDCscore scoring throughput at full VDC scale against the local stub judge (a benchmark, not a test).

    .venv/bin/python benchmarks/bench_scoring.py [--videos 1027] [--latency-ms 20] [--out runs/bench_scoring]

Synthetic data of VDC's size (5 dimensions x 1,027 videos, ~18.9 QAs each: ~97k QAs, ~194k judge calls;
caption lengths per dimension roughly as in VDC) is scored against ``stub_judge_server`` (a separate
process answering every call after ``--latency-ms``). Phases, each in its own process so its peak RSS
is its own:

1. ``sequential``: one call at a time (like the reference scorers) on the first ``--sequential-qas``
   QAs; its rate is extrapolated to the full call count (stated as such in the output).
2. ``cold``: the full set with the default concurrency (32) into an empty verdict cache.
3. ``warm``: the full set again from the warm cache (zero calls expected), including aggregation with
   the bootstrap and writing all outputs.

Prints a JSON summary and writes it to ``<out>/bench_scoring.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.scoring.caption_records import load_samples
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.pipeline import ScoringConfig, score_captions
from vdc_bench.scoring.protocol import load_protocol

# Mean caption words per dimension (roughly VDC's: ~500 words per video over the five captions).
CAPTION_WORDS = {"camera": 90, "short": 20, "background": 110, "main_object": 110, "detailed": 200}
QA_MEAN, QA_MIN, QA_MAX = 18.87, 11, 38  # QAs per video in the published VDCScore QA files
VOCAB = ("camera pans slowly across a crowded street where people walk past old shops under a grey sky while "
         "a red bus stops near the corner and a dog runs after a ball the light is warm and soft").split()


# The stub judge is a test double: it lives with the tests, not in the package.
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"


def make_samples(path: Path, videos: int, seed: int = 0) -> int:
    """Write an lmms-eval-style samples file of VDC's shape; returns the number of QAs."""
    rng = random.Random(seed)
    n_qas = 0
    with path.open("w", encoding="utf-8") as fh:
        for dim in DIMENSIONS:
            for v in range(videos):
                n = min(QA_MAX, max(QA_MIN, round(rng.gauss(QA_MEAN, 2.5))))
                words = rng.choices(VOCAB, k=max(5, int(rng.gauss(CAPTION_WORDS[dim], CAPTION_WORDS[dim] / 5))))
                qa = [{"question": f"What {rng.choice(VOCAB)} is near the {rng.choice(VOCAB)} ({i})?",
                       "answer": " ".join(rng.choices(VOCAB, k=rng.randint(1, 5))), "category": "object"}
                      for i in range(n)]
                rec = {"video_id": f"video{v:05d}", "dimension": dim, "caption": " ".join(words).capitalize() + ".",
                       "qa": qa, "failed": False, "error": None}
                fh.write(json.dumps({"doc_id": v, "vdc_acc": rec}) + "\n")
                n_qas += n
    return n_qas


def phase(args: argparse.Namespace) -> None:
    """One measured phase, in this process; prints its JSON result on the last stdout line."""
    items = load_samples([args.samples])
    if args.max_qas:
        kept, total = [], 0
        for item in items:
            if total >= args.max_qas:
                break
            kept.append(item)
            total += len(item.qa)
        items = kept
    settings = JudgeSettings(base_url=args.url, model="stub", concurrency=args.concurrency, timeout_s=60.0)
    config = ScoringConfig(load_protocol(), Path(args.cache) if args.cache else None, progress=False)
    started, cpu_started = time.perf_counter(), time.process_time()
    doc, judgements = score_captions(items, settings, config, Path(args.out_dir) if args.out_dir else None)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    calls = doc.calls
    print(json.dumps({
        "qas": len(judgements),
        "calls_made": calls.succeeded,
        "cache_hits": calls.cache_hits,
        "failed": calls.failed,
        "judge_s": doc.elapsed_s,
        "wall_s": wall,
        "client_cpu_s": cpu,
        "calls_per_s": (calls.succeeded + calls.cache_hits) / doc.elapsed_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "vdcscore_acc": doc.vdcscore.acc,
    }))


def run_phase(name: str, base: list[str], extra: list[str]) -> dict:
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([*base, *extra], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"[bench] {name}: {result}", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1027)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-qas", type=int, default=150, help="QAs (x2 calls) for the one-at-a-time baseline")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_scoring"))
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--samples", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    parser.add_argument("--max-qas", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args)
        return

    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.out / "bench_samples_vdc.jsonl"
    cache = args.out / "verdicts.sqlite"
    for stale in (cache, Path(f"{cache}-wal"), Path(f"{cache}-shm")):
        stale.unlink(missing_ok=True)
    n_qas = make_samples(samples, args.videos)
    server = subprocess.Popen(
        [sys.executable, "-m", "doubles.stub_judge_server", "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(TESTS_DIR)},
    )
    try:
        url = server.stdout.readline().split()[-1]  # "READY <url>"
        base = [sys.executable, __file__, "--samples", str(samples), "--url", url]
        seq = run_phase("sequential", base, ["--phase", "sequential", "--concurrency", "1",
                                             "--max-qas", str(args.sequential_qas)])
        server_cpu = psutil.Process(server.pid).cpu_times()
        cold = run_phase("cold", base, ["--phase", "cold", "--concurrency", str(args.concurrency), "--cache", str(cache)])
        server_cpu_after = psutil.Process(server.pid).cpu_times()
        cold["server_cpu_s"] = (server_cpu_after.user + server_cpu_after.system) - (server_cpu.user + server_cpu.system)
        warm = run_phase("warm", base, ["--phase", "warm", "--concurrency", str(args.concurrency), "--cache", str(cache),
                                        "--out-dir", str(args.out / "warm_outputs")])
    finally:
        server.terminate()
        server.wait(10)
    total_calls = cold["calls_made"] + cold["cache_hits"]
    summary = {
        "machine": f"{os.cpu_count()} CPUs visible; shared and loaded (timings are noisy)",
        "stub_latency_ms": args.latency_ms,
        "videos_per_dimension": args.videos,
        "qas": n_qas,
        "judge_calls": total_calls,
        "sequential": {**seq, "extrapolated_full_run_s": total_calls / seq["calls_per_s"],
                       "note": f"measured on the first {seq['qas']} QAs, extrapolated to {total_calls} calls"},
        "cold": cold,
        "warm": warm,
        "speedup_vs_sequential": cold["calls_per_s"] / seq["calls_per_s"],
        # Machine-load independent: CPU per call of the judge client and of the stub, and the rate two idle
        # cores could sustain with that cost (the client is one process: it can use at most one core).
        "cpu_ms_per_call": {"client": 1000 * cold["client_cpu_s"] / total_calls,
                            "stub_server": 1000 * cold["server_cpu_s"] / total_calls},
    }
    per_call = summary["cpu_ms_per_call"]
    summary["idle_2core_bound_calls_per_s"] = min(1000 / per_call["client"], 2000 / (per_call["client"] + per_call["stub_server"]),
                                                  args.concurrency / (args.latency_ms / 1000))
    (args.out / "bench_scoring.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
