"""Judge call order vs llama.cpp prefix reuse on the embedded judge (a benchmark, not a test).

    .venv/bin/python benchmarks/bench_judge_order.py SAMPLES.jsonl [--baseline-commit cd6f407] [--out DIR]

Scores the captions of an lmms-eval samples file twice, in two processes run side by side (so both see
the same machine load), each against its own embedded judge (Qwen2.5-Coder-1.5B, llama-cpp-python):

* ``grouped``: this checkout's scorer (per caption: all call 1s, then all call 2s; one request in flight);
* ``baseline``: the scorer of ``--baseline-commit`` (per QA: call 1 then call 2; two requests in flight),
  read with ``git show`` and run with this checkout's other modules.

Prompt tokens evaluated and reused come from each server's log (``vdc_bench.judge.llama_log``), so the
token counts do not depend on the load; wall and server CPU seconds do (the load average is recorded).
Prints one JSON line per order and writes them to ``<out>/bench_judge_order.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _server_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the watchdog and the llama.cpp server under it)."""
    total = 0.0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def one_order(order: str, samples: Path, baseline_commit: str) -> dict:
    from vdc_bench.judge import llama_log
    from vdc_bench.judge.embedded import resolve_judge
    from vdc_bench.judge.server import owned_servers
    from vdc_bench.scoring.caption_records import load_samples
    from vdc_bench.scoring.protocol import load_protocol
    from vdc_bench.scoring.verdict_cache import VerdictCache

    if order == "baseline":
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{baseline_commit}:vdc_bench/scoring/scorer.py"],
                                check=True, capture_output=True, text=True).stdout
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"baseline_scorer_{baseline_commit}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("baseline_scorer", path)
        scorer = importlib.util.module_from_spec(spec)
        sys.modules["baseline_scorer"] = scorer
        spec.loader.exec_module(scorer)
        concurrency = 2  # the embedded judge's concurrency at that commit
    else:
        import vdc_bench.scoring.scorer as scorer
        concurrency = 1
    items = load_samples([samples])
    settings = dataclasses.replace(resolve_judge(), concurrency=concurrency)
    (_, state), = owned_servers().values()
    log, offset = Path(state.log), llama_log.log_size(Path(state.log))
    load_start, cpu_start, started = os.getloadavg(), _server_cpu_s(state.pid), time.perf_counter()
    outcome = scorer.judge_items(items, settings, load_protocol(), VerdictCache(None), progress=False)
    return {
        "order": order, "qas": len(outcome.judgements), "wall_s": round(time.perf_counter() - started, 1),
        "server_cpu_s": round(_server_cpu_s(state.pid) - cpu_start, 1),
        "judge_server": llama_log.read_stats(log, offset).as_dict(),
        "load_average_start": [round(x, 2) for x in load_start], "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "verdicts": [[j.extracted_answer, j.pred, j.score] for j in outcome.judgements],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("samples", type=Path)
    ap.add_argument("--baseline-commit", default="cd6f407")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_judge_order"))
    ap.add_argument("--order", choices=["grouped", "baseline"], help=argparse.SUPPRESS)  # one child process
    args = ap.parse_args()
    if args.order:
        print(json.dumps(one_order(args.order, args.samples, args.baseline_commit)))
        return 0
    children = [subprocess.Popen([sys.executable, __file__, str(args.samples), "--baseline-commit",
                                  args.baseline_commit, "--order", order], stdout=subprocess.PIPE, text=True)
                for order in ("grouped", "baseline")]
    results = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"cpus": len(os.sched_getaffinity(0)), "samples": str(args.samples), "runs": results}
    (args.out / "bench_judge_order.json").write_text(json.dumps(doc, indent=1) + "\n")
    for result in results:
        print(json.dumps({k: v for k, v in result.items() if k != "verdicts"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
