"""Data-parallel lmms-eval on 1 vs N GPUs: captions/s of a real ``--model auroracap`` run.

Builds an AuroraCap-7B-shaped random checkpoint and a synthetic VDC set, then runs ``accelerate launch
-m lmms_eval --tasks vdc --predict_only`` with 1 process and with N (one per GPU; lmms-eval shards the
documents round-robin) and writes ``dp_scaling.json`` / ``dp_scaling.md``: the generation phase per rank
(the adapter's ``log_metrics`` line), captions/s, output tokens/s, per-rank caption counts, the scaling
efficiency and how many N-process captions equal the 1-process ones. Random weights almost never emit
EOS, so captions run to ``--new-tokens``. A short N-process warm-up run first fills the inductor/Triton
cache for the batch shape on every GPU, so neither measured run pays a cold compile.

    python -m gpu_box.data_parallel --out DIR                   # 2 GPUs, 7B shape, 32 videos
    python -m gpu_box.data_parallel --out DIR --device cpu --size tiny --videos 4 \\
        --batch-size 2 --frames 2 --new-tokens 8                           # CPU dry run (gloo)

Runs from a source checkout that is only on PYTHONPATH too (see plugin_metadata.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gpu_box.plugin_metadata import plugin_pythonpath
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import sample_record_of_line
from vdc_bench.runs.environment import environment_versions
from vdc_bench.runs.lmms_runner import LmmsRun, offline_env, run_lmms_eval

_METRIC_LINE = re.compile(
    r"Metric summary - Total elapsed time: ([0-9.]+)s, Total gen tokens: (\d+).*?total_requests: (\d+)"
)
# Run in a child with the lmms-eval environment: fails fast (before the checkpoint is built) if a carried
# wheel is missing, and reports what the runs will import.
_PROBE = """
import importlib.metadata as md, json, torch
import av, datasets, lmms_eval.evaluator
names = ("vdc-bench", "lmms-eval", "transformers", "accelerate", "datasets", "pyarrow", "fsspec", "huggingface-hub", "av")
print(json.dumps({**{n: md.version(n) for n in names}, "torch": torch.__version__, "cuda": torch.version.cuda,
                  "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}))
"""


@dataclass
class DpConfig:
    out: Path
    work: Path = Path("/tmp/vdc_dp")
    size: str = "7b-shape"
    videos: int = 32
    batch_size: int = 16  # per process
    gpus: int = 2
    new_tokens: int = 300
    ratio: float = 0.4
    frames: int = 16
    device: str = "cuda"  # where the random checkpoint is drawn; lmms-eval ranks use cuda:<rank> if present
    threads_per_process: int = 1
    warmup: bool = True
    port: int = 29517
    timeout_s: float = 300.0  # per lmms-eval run

    @property
    def model_args(self) -> dict[str, object]:
        return {"pretrained": self.work / f"ckpt_{self.size}", "token_kept_ratio": self.ratio, "num_frm": self.frames}



@dataclass
class RunResult:
    """One measured lmms-eval run."""

    processes: int
    wall_s: float  # the whole launch: imports, model load, task building, generation, writing
    phase_s: float  # generation phase: the slowest rank's generate_until (lmms-eval's log_metrics)
    rank_phase_s: list[float]
    rank_captions: list[int]  # rank r captions the docs with doc_id % processes == r
    captions: int
    output_tokens: int
    failed: int
    empty: int
    peak_mem_gb: float | None
    # Per rank: the median batch's device time (vision + prefill + decode; the first batch also holds
    # compile-cache loads and graph captures, which the median ignores) and its captions.
    rank_median_batch_s: list[float]
    rank_batch_captions: list[int]
    log: str

    @property
    def captions_per_s(self) -> float:
        return self.captions / self.phase_s

    @property
    def steady_captions_per_s(self) -> float:
        """Captions/s of the ranks' median batches, summed: throughput without start-up or host gaps."""
        return sum(n / s for n, s in zip(self.rank_batch_captions, self.rank_median_batch_s, strict=True))

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.phase_s


@dataclass
class Stage:
    name: str
    seconds: float
    detail: dict = field(default_factory=dict)


def parse_phase_times(log_text: str) -> list[tuple[float, int, int]]:
    """(elapsed s, generated tokens, requests) of every rank's ``Metric summary`` line, in log order."""
    return [(float(s), int(t), int(r)) for s, t, r in _METRIC_LINE.findall(log_text)]


def captions_by_key(run: LmmsRun) -> dict[str, dict]:
    """sample_key -> {caption, doc_id, output_tokens, failed, peak_mem_mb, batch} over every vdc subtask.

    ``batch`` = (batch size, vit_ms, gen_s): the adapter stamps every sample of a batch with the same
    batch timings, so equal tuples on one rank mean one batch.
    """
    out = {}
    for task in run.samples:
        for lineno, row in read_jsonl(run.samples[task]):
            rec = sample_record_of_line(row, f"{run.samples[task]}:{lineno}")
            if rec is None:
                continue
            stats = rec.stats
            out[rec.key] = {
                "caption": rec.caption, "doc_id": row["doc_id"], "failed": rec.failed,
                "output_tokens": stats.output_tokens or 0, "peak_mem_mb": stats.peak_mem_mb,
                "batch": (stats.batch_size, stats.vit_ms, stats.gen_s),
            }
    return out


def median_batches(samples: dict[str, dict], processes: int) -> tuple[list[float], list[int]]:
    """Per rank: (device seconds, captions) of its median-time batch."""
    batches: list[set[tuple]] = [set() for _ in range(processes)]
    for s in samples.values():
        if not s["failed"]:
            batches[s["doc_id"] % processes].add(s["batch"])
    seconds, sizes = [], []
    for rank_batches in batches:
        timed = sorted((vit_ms / 1000 + gen_s, size) for size, vit_ms, gen_s in rank_batches)
        sec, size = timed[(len(timed) - 1) // 2]
        seconds.append(round(sec, 3))
        sizes.append(size)
    return seconds, sizes


def measure_run(run: LmmsRun, processes: int, wall_s: float, expected: int) -> tuple[RunResult, dict[str, dict]]:
    """Check that every doc got a caption and read the generation phase of each rank."""
    samples = captions_by_key(run)
    if len(samples) != expected:
        raise VdcBenchError(f"{run.results_path}: {len(samples)} captions in the samples files, expected {expected}")
    assert run.log_path is not None
    phases = parse_phase_times(run.log_path.read_text(errors="replace"))
    if len(phases) != processes:
        raise VdcBenchError(f"{run.log_path}: {len(phases)} 'Metric summary' lines, expected one per rank ({processes})")
    rank_captions = [0] * processes
    for s in samples.values():
        rank_captions[s["doc_id"] % processes] += 1
    peaks = [s["peak_mem_mb"] for s in samples.values() if s["peak_mem_mb"] is not None]
    median_s, median_n = median_batches(samples, processes)
    return RunResult(
        processes=processes, wall_s=round(wall_s, 2), phase_s=max(p[0] for p in phases),
        rank_phase_s=sorted(p[0] for p in phases), rank_captions=rank_captions, captions=len(samples),
        output_tokens=sum(s["output_tokens"] for s in samples.values()),
        failed=sum(s["failed"] for s in samples.values()), empty=sum(not s["caption"] for s in samples.values()),
        peak_mem_gb=round(max(peaks) / 1024, 1) if peaks else None, rank_median_batch_s=median_s,
        rank_batch_captions=median_n, log=run.log_path.name,
    ), samples


def compare_captions(reference: dict[str, dict], other: dict[str, dict]) -> dict[str, int]:
    same = sum(1 for key, s in reference.items() if key in other and other[key]["caption"] == s["caption"])
    return {"compared": len(reference), "identical": same, "missing": len(set(reference) - set(other))}


def scaling(one: RunResult, many: RunResult) -> dict[str, float]:
    """Speed-up and efficiency = (captions/s with N) / (N x captions/s with 1)."""
    speedup = many.captions_per_s / one.captions_per_s
    steady = many.steady_captions_per_s / one.steady_captions_per_s
    return {"speedup": round(speedup, 3), "efficiency": round(speedup / many.processes, 3),
            "steady_efficiency": round(steady / many.processes, 3), "wall_speedup": round(one.wall_s / many.wall_s, 3)}


def summary(cfg: DpConfig, meta: dict, stages: list[Stage], runs: list[RunResult], comparison: dict | None) -> dict:
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items() if k not in ("out", "work")}
    out = {"meta": meta, "config": config, "stages": [asdict(s) for s in stages],
           "runs": [dict(asdict(r), captions_per_s=round(r.captions_per_s, 4), tokens_per_s=round(r.tokens_per_s, 1),
                         steady_captions_per_s=round(r.steady_captions_per_s, 4)) for r in runs]}
    if comparison is not None and len(runs) == 2:
        out["scaling"] = dict(scaling(*runs), captions=comparison)
    return out


def markdown(report: dict) -> str:
    meta, cfg = report["meta"], report["config"]
    lines = [
        f"# Data-parallel lmms-eval, AuroraCap {cfg['size']} random weights ({meta['card']})",
        "",
        f"`accelerate launch -m lmms_eval --model auroracap --tasks vdc --predict_only`, {cfg['videos']} synthetic "
        f"videos x {len(DIMENSIONS)} dimensions, {cfg['frames']} frames, token_kept_ratio {cfg['ratio']}, "
        f"{cfg['new_tokens']} new tokens, batch {cfg['batch_size']} per process, {cfg['threads_per_process']} CPU "
        f"threads per process. torch {meta['torch']} (CUDA {meta['cuda']}), transformers {meta['transformers']}, "
        f"accelerate {meta['accelerate']}, lmms-eval {meta['lmms-eval']}. Generation = the slowest rank's "
        "generate_until (lmms-eval's log_metrics); steady = each rank's median batch (device time of vision + "
        "prefill + decode), summed over ranks; wall = the whole launch incl. model load.",
        "",
        "| processes | captions (per rank) | generation s (per rank) | captions/s | output tok/s | median batch s "
        "(per rank) | steady captions/s | wall s | peak GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        per_rank = " / ".join(str(n) for n in r["rank_captions"])
        phases = " / ".join(f"{s:.1f}" for s in r["rank_phase_s"])
        batches = " / ".join(f"{s:.2f}" for s in r["rank_median_batch_s"])
        lines.append(f"| {r['processes']} | {r['captions']} ({per_rank}) | {r['phase_s']:.1f} ({phases}) | "
                     f"{r['captions_per_s']:.3f} | {r['tokens_per_s']:.0f} | {batches} | {r['steady_captions_per_s']:.3f} | "
                     f"{r['wall_s']:.1f} | {r['peak_mem_gb'] or '–'} |")
    if "scaling" in report:
        s, c = report["scaling"], report["scaling"]["captions"]
        n = report["runs"][1]["processes"]
        lines += ["", f"1 -> {n} processes: {s['speedup']:.2f}x captions/s, scaling efficiency "
                  f"{100 * s['efficiency']:.1f} % (steady state {100 * s['steady_efficiency']:.1f} %, wall "
                  f"{s['wall_speedup']:.2f}x). {c['identical']} of {c['compared']} "
                  f"captions identical to the 1-process run ({c['missing']} missing); failed samples: "
                  f"{sum(r['failed'] for r in report['runs'])}, empty captions: {sum(r['empty'] for r in report['runs'])}."]
    stages = ", ".join(f"{s['name']} {s['seconds']:.0f} s" for s in report["stages"])
    return "\n".join(lines + ["", f"Stages: {stages}.", ""])


def probe(env: dict[str, str]) -> dict:
    """Versions and device names, read in a child (so this process never holds a CUDA context)."""
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise VdcBenchError(f"the lmms-eval environment does not import:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_checkpoint(cfg: DpConfig, env: dict[str, str]) -> Stage:
    """The random checkpoint, drawn on ``cfg.device`` in a child process (which frees its GPU memory on exit)."""
    target = Path(cfg.model_args["pretrained"])
    started = time.perf_counter()
    if target.exists():  # from an earlier run on this machine; the marker is written last
        from vdc_bench.models.auroracap.random_checkpoint import MARKER

        if (target / MARKER).exists():
            return Stage("checkpoint (reused)", 0.0, {"path": str(target)})
        shutil.rmtree(target)  # a run killed while writing it
    cmd = [sys.executable, "-m", "vdc_bench", "make-checkpoint", "--size", cfg.size, "--output", str(target),
           "--device", cfg.device]
    subprocess.run(cmd, env=env, check=True)
    size_gb = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e9
    return Stage("checkpoint", round(time.perf_counter() - started, 1), {"path": str(target), "gb": round(size_gb, 2)})


def make_data(cfg: DpConfig) -> tuple[Path, Stage]:
    from vdc_bench.dataset.synthetic import make_synthetic_root

    root = cfg.work / f"synthetic_{cfg.videos}"
    started = time.perf_counter()
    if not (root / "VDC_1k.jsonl").exists():
        make_synthetic_root(root, cfg.videos)
    return root, Stage("synthetic data", round(time.perf_counter() - started, 1), {"root": str(root)})


def _lmms(cfg: DpConfig, env: dict[str, str], processes: int, name: str, port: int, new_tokens: int,
          tasks: tuple[str, ...] = ("vdc",), limit: int | None = None) -> tuple[LmmsRun, float]:
    """One ``accelerate launch`` of lmms-eval; returns its files and wall seconds. Log: ``<out>/lmms_<name>.log``."""
    started = time.perf_counter()
    run = run_lmms_eval(
        "auroracap", cfg.model_args, list(tasks), cfg.work / name, env=env, log_path=cfg.out / f"lmms_{name}.log",
        timeout=cfg.timeout_s, batch_size=cfg.batch_size, predict_only=True, gen_kwargs=f"max_new_tokens={new_tokens}",
        limit=limit, nproc=processes, launcher="accelerate", main_process_port=port,
    )
    return run, time.perf_counter() - started


def check_config(cfg: DpConfig, devices: list[str]) -> None:
    if cfg.gpus < 2:
        raise VdcBenchError(f"--gpus must be >= 2 (the 1-process run is always made), got {cfg.gpus}")
    if cfg.device == "cuda" and len(devices) < cfg.gpus:
        raise VdcBenchError(f"--gpus {cfg.gpus} but torch sees {len(devices)} CUDA device(s): {devices}")
    if cfg.videos % cfg.gpus:
        raise VdcBenchError(f"--videos {cfg.videos} must be a multiple of --gpus {cfg.gpus} (equal shards)")


def run(cfg: DpConfig) -> dict:
    cfg.out.mkdir(parents=True, exist_ok=True)
    cfg.work.mkdir(parents=True, exist_ok=True)
    extra_path = plugin_pythonpath(cfg.work / "plugin_metadata")
    pythonpath = os.pathsep.join([*extra_path, os.environ.get("PYTHONPATH", "")]).strip(os.pathsep)
    env = offline_env({"PYTHONPATH": pythonpath, "HF_HOME": str(cfg.work / "hf"),
                       "OMP_NUM_THREADS": str(cfg.threads_per_process)})
    info = probe(env)
    check_config(cfg, info["devices"])
    meta = {**environment_versions(), **info, "card": info["devices"][0] if info["devices"] else "cpu"}
    if (cfg.videos * len(DIMENSIONS) // cfg.gpus) % cfg.batch_size:
        meta["note"] = "captions per rank are not a multiple of the batch size: the last batch is partial"
    stages: list[Stage] = []
    runs: list[RunResult] = []
    comparison = None

    def save() -> dict:
        report = summary(cfg, meta, stages, runs, comparison)
        (cfg.out / "dp_scaling.json").write_text(json.dumps(report, indent=2) + "\n")
        if runs:
            (cfg.out / "dp_scaling.md").write_text(markdown(report))
        return report

    def log(message: str) -> None:
        print(f"[dp] {message}", file=sys.stderr, flush=True)

    stages.append(make_checkpoint(cfg, env))
    log(f"{stages[-1].name}: {stages[-1].seconds} s {stages[-1].detail}")
    root, stage = make_data(cfg)
    stages.append(stage)
    env["VDC_ROOT"] = str(root)
    save()
    if cfg.warmup:
        # One full batch per rank of one subtask, on every GPU: compiled graphs are cached per device
        # and batch shape (not per caption length), so both measured runs then start from the same warm cache.
        limit = min(cfg.batch_size * cfg.gpus, cfg.videos)
        _, seconds = _lmms(cfg, env, cfg.gpus, "warmup", cfg.port, min(16, cfg.new_tokens), ("vdc_short",), limit)
        stages.append(Stage(f"warm-up run ({cfg.gpus} processes)", round(seconds, 1)))
        log(f"{stages[-1].name}: {seconds:.1f} s")
        save()
    expected = cfg.videos * len(DIMENSIONS)
    captions = []
    for i, processes in enumerate((1, cfg.gpus)):
        lmms_run, wall = _lmms(cfg, env, processes, f"dp{processes}", cfg.port + 1 + i, cfg.new_tokens)
        result, samples = measure_run(lmms_run, processes, wall, expected)
        runs.append(result)
        captions.append(samples)
        log(f"{processes} process(es): {result.captions} captions in {result.phase_s:.1f} s generation "
            f"({result.captions_per_s:.3f}/s), wall {result.wall_s:.1f} s")
        save()
    comparison = compare_captions(*captions)
    return save()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_box.data_parallel", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="dp_scaling.json/.md and the lmms-eval logs")
    p.add_argument("--work", type=Path, default=DpConfig.work, help="checkpoint, data and lmms-eval outputs")
    p.add_argument("--size", default=DpConfig.size, choices=("tiny", "tiny-geometry", "7b-shape"))
    p.add_argument("--videos", type=int, default=DpConfig.videos, help="synthetic videos (x5 dimensions = captions)")
    p.add_argument("--batch-size", type=int, default=DpConfig.batch_size, help="per process")
    p.add_argument("--gpus", type=int, default=DpConfig.gpus, help="processes of the data-parallel run")
    p.add_argument("--new-tokens", type=int, default=DpConfig.new_tokens)
    p.add_argument("--ratio", type=float, default=DpConfig.ratio, help="token_kept_ratio")
    p.add_argument("--frames", type=int, default=DpConfig.frames)
    p.add_argument("--device", default=DpConfig.device, choices=("cuda", "cpu"))
    p.add_argument("--threads-per-process", type=int, default=None,
                   help="OMP_NUM_THREADS of every rank (default: CPU cores / gpus, the same in both runs)")
    p.add_argument("--no-warmup", dest="warmup", action="store_false")
    p.add_argument("--port", type=int, default=DpConfig.port, help="first rendezvous port (one per run)")
    p.add_argument("--timeout", type=float, default=DpConfig.timeout_s, help="seconds per lmms-eval run")
    a = p.parse_args(argv)
    threads = a.threads_per_process or max(1, (os.cpu_count() or 1) // a.gpus)
    cfg = DpConfig(out=a.out, work=a.work, size=a.size, videos=a.videos, batch_size=a.batch_size, gpus=a.gpus,
                   new_tokens=a.new_tokens, ratio=a.ratio, frames=a.frames, device=a.device,
                   threads_per_process=threads, warmup=a.warmup, port=a.port, timeout_s=a.timeout)
    report = run(cfg)
    print((cfg.out / "dp_scaling.md").read_text())
    return 0 if all(r["failed"] == 0 for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
