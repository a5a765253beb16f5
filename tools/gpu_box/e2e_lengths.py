"""End-to-end ``python -m lmms_eval --tasks vdc`` captioning speed on one GPU at VDC-like caption lengths.

Builds an AuroraCap-7B-shaped random checkpoint and a synthetic VDC set (as ``data_parallel.py``), then runs
lmms-eval with the model ``auroracap_imposed_lengths`` (``imposed_lengths.py``: the adapter, each caption
stopped at a length drawn from the GPU benchmark's VDC reference-length model, as random weights never emit
EOS) and writes ``e2e_<name>.json`` / ``.md``: captions/s over the whole generation phase (lmms-eval's
``generate_until``), steady-state captions/s (between the ``batch``-th and the ``batch``-th-last finished
caption: without the first fill's compile/capture and the final drain), output tokens checked against the
imposed lengths, and the video-decoding cost: CPU seconds per request (decode + CLIP preprocessing, in the
adapter's one worker thread) and how long the GPU side waited on that thread.

``--clip WxH@S`` replaces every synthetic video (160x120, 3 s) by one H.264 clip of that size and length at
30 fps, so decoding costs what a real video of that size costs (its content is a moving synthetic texture).

    python -m gpu_box.e2e_lengths --out DIR                                       # 16 frames, rho 0.4, batch 16
    python -m gpu_box.e2e_lengths --out DIR --clip 1280x720@30 --no-warmup --name clip720p
    python -m gpu_box.e2e_lengths --out DIR --device cpu --size tiny --videos 2 --batch-size 2 --frames 2 \\
        --model-arg decode=static                                                      # CPU dry run

Runs from a source checkout that is only on PYTHONPATH too (see plugin_metadata.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

from gpu_box.data_parallel import DpConfig, Stage, make_checkpoint, make_data, parse_phase_times, probe
from gpu_box.plugin_metadata import plugin_pythonpath
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import sample_record_of_line
from vdc_bench.runs.environment import environment_versions
from vdc_bench.runs.lmms_runner import LmmsRun, offline_env, run_lmms_eval

MODEL_ID = "auroracap_imposed_lengths"
TOOLS_DIR = Path(__file__).resolve().parent.parent
_CLIP = re.compile(r"^(\d+)x(\d+)@(\d+(?:\.\d+)?)$")


def model_manifests():
    """Entry point (group ``lmms_eval.models``) of the GPU-box model; no heavy imports here."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id=MODEL_ID, simple_class_path="gpu_box.imposed_lengths.AuroraCapImposedLengths")]


def write_model_dist_info(folder: Path) -> Path:
    """A ``*.dist-info`` whose entry point registers ``auroracap_imposed_lengths`` with lmms-eval."""
    dist_info = folder / "vdc_bench_gpu_box-0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: vdc-bench-gpu-box\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text("[lmms_eval.models]\ngpu_box = gpu_box.e2e_lengths:model_manifests\n")
    return dist_info


def parse_clip(text: str) -> tuple[int, int, float]:
    m = _CLIP.match(text)
    if not m or int(m[1]) % 2 or int(m[2]) % 2 or float(m[3]) <= 0:
        raise argparse.ArgumentTypeError(f"--clip {text!r}: expected WIDTHxHEIGHT@SECONDS, even sizes, e.g. 1280x720@30")
    return int(m[1]), int(m[2]), float(m[3])


def write_clip(path: Path, width: int, height: int, seconds: float, fps: int = 30) -> None:
    """One H.264 clip: a fixed random texture panned a few pixels per frame, with a square moving over it."""
    import numpy as np

    from vdc_bench.dataset.synthetic import encode_video

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    texture = np.kron(small, np.ones((16, 16, 1), dtype=np.uint8))[:height, :width]  # 16-px blocks: compressible
    n = max(2, round(seconds * fps))
    side = max(2, height // 6)

    def frames():
        for i in range(n):
            frame = np.roll(texture, 3 * i, axis=1)
            x, y = (7 * i) % (width - side), (5 * i) % (height - side)
            frame[y : y + side, x : x + side] = 255
            yield frame

    encode_video(frames(), path, fps)


def data_with_clip(cfg: DpConfig, clip: tuple[int, int, float]) -> Path:
    """The synthetic VDC set with every video a hard link to one clip of ``clip`` = (width, height, seconds)."""
    from vdc_bench.dataset.synthetic import make_synthetic_root

    w, h, s = clip
    root = cfg.work / f"synthetic_{cfg.videos}_clip_{w}x{h}_{s:g}s"
    clip_file = cfg.work / f"clip_{w}x{h}_{s:g}s.mp4"
    if not clip_file.exists():
        write_clip(clip_file.with_suffix(".tmp.mp4"), w, h, s)
        clip_file.with_suffix(".tmp.mp4").rename(clip_file)
    if not (root / "VDC_1k.jsonl").exists():
        make_synthetic_root(root, cfg.videos)
        for video in root.rglob("*.mp4"):
            video.unlink()
            os.link(clip_file, video)
    return root


def steady_captions_per_s(finished_s: list[float], batch: int) -> float | None:
    """Captions/s between the ``batch``-th and the ``batch``-th-last finish (None for too few captions)."""
    t = sorted(finished_s)
    n = len(t)
    if n < 2 * batch + 2:
        return None
    first, last = t[batch - 1], t[n - batch - 1]
    return (n - 2 * batch) / (last - first) if last > first else None


def read_samples(run: LmmsRun) -> list[dict]:
    """Per caption: task, doc id, output tokens, failed, CPU seconds (decode, preprocess), peak memory."""
    out = []
    for task, path in run.samples.items():
        for lineno, row in read_jsonl(path):
            rec = sample_record_of_line(row, f"{path}:{lineno}")
            if rec is None:
                continue
            s = rec.stats
            out.append({"task": task, "doc_id": row["doc_id"], "failed": rec.failed, "caption": rec.caption,
                        "output_tokens": s.output_tokens or 0, "decode_s": s.decode_s or 0.0,
                        "preprocess_s": s.preprocess_s or 0.0, "peak_mem_mb": s.peak_mem_mb})
    return out


def measure(run: LmmsRun, timeline: Path, expected: int, seed: int) -> dict:
    """Whole-run and steady captions/s, the imposed-length check and the CPU side of one run."""
    from gpu_box.imposed_lengths import imposed_length
    from vdc_bench.gpu_bench.lengths import caption_lengths

    samples = read_samples(run)
    if len(samples) != expected:
        raise VdcBenchError(f"{run.results_path}: {len(samples)} captions in the samples files, expected {expected}")
    assert run.log_path is not None
    phases = parse_phase_times(run.log_path.read_text(errors="replace"))
    if len(phases) != 1:
        raise VdcBenchError(f"{run.log_path}: {len(phases)} 'Metric summary' lines, expected 1")
    phase_s, gen_tokens, _ = phases[0]
    calls = json.loads(timeline.read_text())
    if len(calls) != 1:
        raise VdcBenchError(f"{timeline}: {len(calls)} generate_until calls, expected 1")
    call = calls[0]
    if not len(call["finished_s"]) == len(call["input_waits_s"]) == expected:  # the model's wrappers saw every request
        raise VdcBenchError(f"{timeline}: {len(call['finished_s'])} finish times and {len(call['input_waits_s'])} "
                            f"input waits, expected {expected} of each")
    table = caption_lengths(len(DIMENSIONS) * (max(s["doc_id"] for s in samples) + 1), seed=seed)
    off = sum(s["output_tokens"] != imposed_length(s["task"], s["doc_id"], table) for s in samples)
    cpu = [s["decode_s"] + s["preprocess_s"] for s in samples]
    waits = call["input_waits_s"]
    peaks = [s["peak_mem_mb"] for s in samples if s["peak_mem_mb"] is not None]
    steady = steady_captions_per_s(call["finished_s"], call["batch_size"])
    return {
        "captions": len(samples), "failed": sum(s["failed"] for s in samples),
        "empty": sum(not s["caption"] for s in samples), "output_tokens": gen_tokens,
        "mean_output_tokens": round(gen_tokens / len(samples), 1), "length_mismatches": off,
        "generation_s": phase_s, "captions_per_s": round(len(samples) / phase_s, 4),
        "steady_captions_per_s": None if steady is None else round(steady, 4),
        "first_finish_s": min(call["finished_s"]), "last_finish_s": max(call["finished_s"]),
        "cpu_s_per_request": {"mean": round(statistics.mean(cpu), 4), "max": round(max(cpu), 4),
                              "decode_mean": round(statistics.mean(s["decode_s"] for s in samples), 4)},
        "cpu_busy_share": round(sum(cpu) / phase_s, 3),  # of the generation phase, in the one decoding thread
        "input_wait_first_s": round(waits[0], 3) if waits else None,
        "input_wait_rest_s": round(sum(waits[1:]), 3),
        "input_wait_rest_share": round(sum(waits[1:]) / phase_s, 4),
        "peak_mem_gb": round(max(peaks) / 1024, 1) if peaks else None,
        "batch_size": call["batch_size"], "kv_sizing": call["kv_sizing"],
    }


def markdown(report: dict) -> str:
    meta, cfg, r = report["meta"], report["config"], report["result"]
    clip = cfg["clip"] or "synthetic 160x120, 3 s at 8 fps"
    steady = "–" if r["steady_captions_per_s"] is None else f"{r['steady_captions_per_s']:.3f}"
    cpu = r["cpu_s_per_request"]
    return "\n".join([
        f"# lmms-eval end to end at VDC-like caption lengths, AuroraCap {cfg['size']} random weights ({meta['card']})",
        "",
        f"`python -m lmms_eval --model {MODEL_ID} --tasks vdc --predict_only`: {cfg['videos']} videos x "
        f"{len(DIMENSIONS)} dimensions, {cfg['frames']} frames, token_kept_ratio {cfg['ratio']}, batch "
        f"{cfg['batch_size']} (continuous batching), KV cache sized for the {r['kv_sizing']} length, lengths seed "
        f"{cfg['lengths_seed']}; videos: {clip}; warm-up run first: {'yes' if cfg['warmup'] else 'no'}. torch {meta['torch']} "
        f"(CUDA {meta['cuda']}), transformers {meta['transformers']}, lmms-eval {meta['lmms-eval']}, {meta['machine']}.",
        "",
        "| captions | mean new tokens | off imposed length | generation s | captions/s (whole run) | steady captions/s "
        "| CPU s/request (decode) | decoding-thread busy | GPU waited on decoding (first request; rest) | peak GB | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['captions']} | {r['mean_output_tokens']} | {r['length_mismatches']} | {r['generation_s']:.1f} | "
        f"{r['captions_per_s']:.3f} | {steady} | {cpu['mean']:.3f} ({cpu['decode_mean']:.3f}) | "
        f"{100 * r['cpu_busy_share']:.0f} % | {r['input_wait_first_s']} s; {r['input_wait_rest_s']} s "
        f"({100 * r['input_wait_rest_share']:.1f} %) | {r['peak_mem_gb'] or '–'} | {report['wall_s']:.1f} |",
        "",
        f"Failed: {r['failed']}, empty: {r['empty']}. Stages: "
        + ", ".join(f"{s['name']} {s['seconds']:.0f} s" for s in report["stages"]) + ".",
        "",
    ])


def run(cfg: DpConfig, name: str, clip: tuple[int, int, float] | None, seed: int, kv_sizing: str,
        extra_model_args: dict[str, str]) -> dict:
    cfg.out.mkdir(parents=True, exist_ok=True)
    cfg.work.mkdir(parents=True, exist_ok=True)
    plugin_dir = cfg.work / "plugin_metadata"
    write_model_dist_info(plugin_dir)
    paths = [*plugin_pythonpath(plugin_dir), str(plugin_dir), str(TOOLS_DIR), os.environ.get("PYTHONPATH", "")]
    env = offline_env({"PYTHONPATH": os.pathsep.join(dict.fromkeys(p for p in paths if p)),
                       "HF_HOME": str(cfg.work / "hf"), "OMP_NUM_THREADS": str(cfg.threads_per_process)})
    info = probe(env)
    meta = {**environment_versions(), **info, "card": info["devices"][0] if info["devices"] else "cpu"}
    stages = [make_checkpoint(cfg, env)]
    started = time.perf_counter()
    root = data_with_clip(cfg, clip) if clip else make_data(cfg)[0]
    stages.append(Stage("data", round(time.perf_counter() - started, 1), {"root": str(root)}))
    env["VDC_ROOT"] = str(root)
    model_args = {**cfg.model_args, "lengths_seed": seed, "kv_sizing": kv_sizing, **extra_model_args}

    def lmms(run_name: str, **kwargs) -> tuple[LmmsRun, float]:
        t0 = time.perf_counter()
        lmms_run = run_lmms_eval(MODEL_ID, model_args | kwargs.pop("model_args", {}), kwargs.pop("tasks", ["vdc"]),
                                 cfg.work / run_name, env=env, log_path=cfg.out / f"lmms_{run_name}.log",
                                 timeout=cfg.timeout_s, batch_size=cfg.batch_size, predict_only=True, **kwargs)
        return lmms_run, time.perf_counter() - t0

    if cfg.warmup:  # one full batch of one subtask: fills the inductor/Triton cache for this batch shape
        _, seconds = lmms(f"{name}_warmup", tasks=["vdc_short"], limit=min(cfg.batch_size, cfg.videos),
                          gen_kwargs="max_new_tokens=16")
        stages.append(Stage("warm-up run", round(seconds, 1)))
    timeline = cfg.out / f"timeline_{name}.json"
    timeline.unlink(missing_ok=True)
    lmms_run, wall = lmms(name, model_args={"timeline": timeline})
    result = measure(lmms_run, timeline, cfg.videos * len(DIMENSIONS), seed)
    config = {"size": cfg.size, "videos": cfg.videos, "batch_size": cfg.batch_size, "ratio": cfg.ratio,
              "frames": cfg.frames, "clip": None if clip is None else "{}x{}, {:g} s at 30 fps".format(*clip),
              "lengths_seed": seed, "warmup": cfg.warmup, "threads": cfg.threads_per_process,
              "model_args": {k: str(v) for k, v in model_args.items()}}
    report = {"meta": meta, "config": config, "stages": [s.__dict__ for s in stages], "wall_s": round(wall, 1),
              "result": result, "log": f"lmms_{name}.log"}
    (cfg.out / f"e2e_{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (cfg.out / f"e2e_{name}.md").write_text(markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpu_box.e2e_lengths", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="e2e_<name>.json/.md and the lmms-eval logs")
    p.add_argument("--name", default="e2e", help="names this run's files")
    p.add_argument("--work", type=Path, default=DpConfig.work, help="checkpoint, data and lmms-eval outputs")
    p.add_argument("--size", default=DpConfig.size, choices=("tiny", "tiny-geometry", "7b-shape"))
    p.add_argument("--videos", type=int, default=DpConfig.videos, help="synthetic videos (x5 dimensions = captions)")
    p.add_argument("--batch-size", type=int, default=16, help="continuous-batching slots")
    p.add_argument("--ratio", type=float, default=DpConfig.ratio, help="token_kept_ratio")
    p.add_argument("--frames", type=int, default=DpConfig.frames)
    p.add_argument("--device", default=DpConfig.device, choices=("cuda", "cpu"), help="where the checkpoint is drawn")
    p.add_argument("--clip", type=parse_clip, default=None, help="WIDTHxHEIGHT@SECONDS: real-size videos (one clip)")
    p.add_argument("--lengths-seed", type=int, default=0)
    p.add_argument("--kv-sizing", default="task", choices=("task", "imposed"),
                   help="KV cache for the task's max_new_tokens (as a real run) or for the imposed lengths")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE", help="extra model arg")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="OMP_NUM_THREADS of lmms-eval")
    p.add_argument("--no-warmup", dest="warmup", action="store_false")
    p.add_argument("--timeout", type=float, default=400.0, help="seconds per lmms-eval run")
    a = p.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in a.model_arg)
    cfg = DpConfig(out=a.out, work=a.work, size=a.size, videos=a.videos, batch_size=a.batch_size, gpus=1,
                   ratio=a.ratio, frames=a.frames, device=a.device, threads_per_process=a.threads,
                   warmup=a.warmup, timeout_s=a.timeout)
    report = run(cfg, a.name, a.clip, a.lengths_seed, a.kv_sizing, extra)
    print((cfg.out / f"e2e_{a.name}.md").read_text())
    r = report["result"]
    return 0 if r["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
