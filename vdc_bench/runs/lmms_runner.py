"""Run lmms-eval as a subprocess and locate what it wrote.

lmms-eval's CLI exits 0 even when the evaluation fails, so success is judged by the results file
it writes, never by the exit code alone. Runs are offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)
and timestamped in UTC.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.caption_cache import ENV as CAPTION_CACHE_ENV

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


class LmmsEvalFailed(VdcBenchError):
    """lmms-eval ended without writing a results file."""


def offline_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with the hub switched off (unless the user set these already)."""
    env = dict(os.environ)
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    env.setdefault("TZ", "UTC")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if extra:
        env.update(extra)
    return env


CAPTION_CACHE_DIR = "caption_cache"


def caption_cache_env(output: Path, enabled: bool = True) -> dict[str, str]:
    """``VDC_CAPTION_CACHE`` for the lmms-eval processes: the user's own if set, else ``<output>/caption_cache``;
    empty (no cache) when ``enabled`` is false."""
    if not enabled:
        return {CAPTION_CACHE_ENV: ""}
    folder = os.environ.get(CAPTION_CACHE_ENV, "").strip() or str(Path(output).resolve() / CAPTION_CACHE_DIR)
    return {CAPTION_CACHE_ENV: folder}


def format_model_args(model_args: str | Mapping[str, object]) -> str:
    if isinstance(model_args, str):
        return model_args
    return ",".join(f"{k}={v}" for k, v in model_args.items())


@dataclass
class LmmsRun:
    """Files of one finished lmms-eval run."""

    results_path: Path
    samples: dict[str, Path] = field(default_factory=dict)
    log_path: Path | None = None

    def results(self) -> dict:
        return json.loads(self.results_path.read_text())

    def read_samples(self, task: str) -> list[dict]:
        with self.samples[task].open() as f:
            return [json.loads(line) for line in f if line.strip()]


# lmms-eval names its results file after the run's time (``20260101_000000_results.json``); captioning tasks
# (COCO, VATEX) write their own ``*_results.json`` submission files beside it, which are not runs.
_RESULTS_NAME = re.compile(r"^\d{8}_\d{6}_results\.json$")


def results_files(output_path: Path) -> list[Path]:
    """Every lmms-eval results file under ``output_path`` (submission files of tasks left out)."""
    return [p for p in Path(output_path).rglob("*_results.json") if _RESULTS_NAME.match(p.name)]


def find_run(output_path: Path, since: float = 0.0) -> LmmsRun | None:
    """The newest lmms-eval results file under ``output_path`` written after ``since`` (epoch s)."""
    candidates = [p for p in results_files(output_path) if p.stat().st_mtime >= since]
    if not candidates:
        return None
    results_path = max(candidates, key=lambda p: p.stat().st_mtime)
    stamp = results_path.name[: -len("_results.json")]
    samples = {
        p.name[len(f"{stamp}_samples_") : -len(".jsonl")]: p
        for p in results_path.parent.glob(f"{stamp}_samples_*.jsonl")
    }
    return LmmsRun(results_path=results_path, samples=samples)


_REASON_MARKERS = ("Tasks not found", "Error during evaluation", "VdcBenchError", "Error:", "Exception:")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failure_reason(log_lines: Sequence[str]) -> str:
    """The most telling error line of an lmms-eval log (it prints tracebacks deep inside itself)."""
    for marker in _REASON_MARKERS:
        for line in reversed(log_lines):
            line = _ANSI.sub("", line).strip()
            if marker in line:
                # loguru lines look like "<date> | ERROR | module:function:line - message"
                return line.split(" - ", 1)[1] if " | " in line and " - " in line else line
    return "no error line found"


LAUNCHERS = ("torchrun", "accelerate")


def launch_prefix(nproc: int = 1, launcher: str = "torchrun", main_process_port: int | None = None) -> list[str]:
    """The command that starts ``nproc`` lmms-eval processes on this machine, one per device.

    ``torchrun`` is only used for ``nproc > 1`` (one process needs no launcher). ``accelerate`` always goes
    through ``accelerate launch``, so a 1-process baseline starts the same way as the N-process run; its
    mixed precision and dynamo are off because the adapter chooses its own dtype and compilation.
    ``main_process_port`` sets the rendezvous port (default 29500), so concurrent runs don't collide.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    if launcher == "accelerate":
        head = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(nproc),
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        if nproc > 1:
            head.append("--multi_gpu")  # also on CPU: torch.distributed with gloo
        if main_process_port is not None:
            head += ["--main_process_port", str(main_process_port)]
    elif nproc > 1:
        head = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
        if main_process_port is not None:
            head.append(f"--master_port={main_process_port}")
    else:
        head = [sys.executable]
    return head + ["-m", "lmms_eval"]


# Flags lmms_eval_command sets itself; given again after ``--`` they would silently win or clash.
OWN_FLAGS = ("--model", "--model_args", "--tasks", "--batch_size", "--output_path", "--timezone", "--log_samples",
             "--predict_only", "--limit", "--gen_kwargs")


def check_extra_args(extra_args: Sequence[str]) -> None:
    """Refuse lmms-eval flags after ``--`` that vdc-bench sets from its own options."""
    for arg in extra_args:
        flag = arg.split("=", 1)[0]
        if flag in OWN_FLAGS:
            raise VdcBenchError(f"{flag} after '--' is set by vdc-bench itself; use vdc-bench's own {flag} option")


def lmms_eval_command(
    model: str,
    model_args: str | Mapping[str, object],
    tasks: Sequence[str],
    output_path: Path,
    *,
    batch_size: int = 1,
    limit: float | None = None,
    predict_only: bool = False,
    log_samples: bool = True,
    gen_kwargs: str | None = None,
    seed: str | None = None,
    nproc: int = 1,
    launcher: str = "torchrun",
    main_process_port: int | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """``--batch_size`` is per process; see ``launch_prefix`` for ``nproc``, ``launcher`` and the port.
    ``extra_args`` are further lmms-eval flags (W&B, Hub push, verbosity, offset, seed, ...)."""
    check_extra_args(extra_args)
    cmd = launch_prefix(nproc, launcher, main_process_port) + [
        "--model", model,
        "--model_args", format_model_args(model_args),
        "--tasks", ",".join(tasks),
        "--batch_size", str(batch_size),
        "--output_path", str(output_path),
        "--timezone", "UTC",
    ]
    if log_samples or predict_only:
        cmd.append("--log_samples")
    if predict_only:
        cmd.append("--predict_only")
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if gen_kwargs:
        cmd += ["--gen_kwargs", gen_kwargs]
    if seed is not None:
        cmd += ["--seed", seed]
    return cmd + list(extra_args)


def free_port() -> int:
    """A TCP port free on this host now (for the launcher's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tee(stream: IO[str], log: IO[str]) -> None:
    for line in stream:
        sys.stderr.write(line)
        log.write(line)


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the launcher and every process below it (torchrun and accelerate leave ranks behind otherwise)."""
    try:
        victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        victims = []
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()


def run_lmms_eval(
    model: str,
    model_args: str | Mapping[str, object],
    tasks: Sequence[str],
    output_path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float | None = None,
    echo: bool = False,
    **kwargs,
) -> LmmsRun:
    """Run ``python -m lmms_eval`` (torchrun or ``accelerate launch`` for several processes) and return its files.

    ``timeout`` (seconds) holds with ``echo`` too; past it the launcher and all ranks are killed. With several
    processes and no ``main_process_port``, a free port is chosen. Raises LmmsEvalFailed with the tail of the log
    when no results file was written.
    """
    output_path = Path(output_path)
    output_path.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else output_path / "lmms_eval.log"
    if kwargs.get("nproc", 1) > 1 and kwargs.get("main_process_port") is None:
        kwargs["main_process_port"] = free_port()  # the default 29500 collides with any other run on this node
    cmd = lmms_eval_command(model, model_args, tasks, output_path, **kwargs)
    started = time.time() - 1.0
    with log_path.open("w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        # Same process group as ours, so a signal to the group (Ctrl-C, scancel, kill -9 of the group) ends every rank.
        proc = subprocess.Popen(cmd, env=offline_env(env), stdout=subprocess.PIPE if echo else log,
                                stderr=subprocess.STDOUT, text=True)
        tee = threading.Thread(target=_tee, args=(proc.stdout, log), daemon=True) if echo else None
        if tee:
            tee.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            raise LmmsEvalFailed(f"lmms-eval ran past the timeout of {timeout:g} s and was killed; log: {log_path}") from None
        except BaseException:  # e.g. KeyboardInterrupt: leave no rank running
            _kill_tree(proc)
            raise
        finally:
            if tee:
                tee.join()
    run = find_run(output_path, since=started)
    if run is None:
        lines = [_ANSI.sub("", line) for line in log_path.read_text(errors="replace").splitlines()]
        raise LmmsEvalFailed(
            f"lmms-eval wrote no results file (exit code {rc}): {failure_reason(lines)}\n"
            f"full log: {log_path}\nlast lines:\n" + "\n".join(lines[-25:])
        )
    run.log_path = log_path
    return run
