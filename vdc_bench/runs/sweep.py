"""``token_kept_ratio`` sweep: one lmms-eval evaluation per ratio, resumable, summarised in ``sweep.json``.

Layout of ``<output>/``::

    ratio_0.1/              lmms-eval output of that ratio, all --tasks in one run (results, samples,
                            vdcscore_<UTC>/ scores for VDC tasks, log)
    ratio_0.1/summary.json  RunSummary of that ratio (runs/run_summary.py)
    ratio_0.1/DONE.json     written atomically, last, once results (+ VDCscore scores where a VDC task ran)
                            + summary exist
    .incomplete/            earlier attempts of a ratio that crashed (kept for their logs)
    sweep.json              every ratio's summary (every task's lmms-eval metrics included), paired VDCscore
                            differences between adjacent ratios, the relative-performance curve
    plots/, report.html, report.md   written by reporting.report (``vdc-bench sweep`` composes both)

A ratio with a DONE marker for the same configuration is never evaluated again; a ratio without one
(crash, kill, failure) is moved to ``.incomplete/`` and run afresh: captions it finished come from the
caption cache ``<output>/caption_cache/``, kept beside the ratio folders unless turned off, and judge verdicts
from the VDCscore verdict cache, so nothing done before is done again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tqdm import tqdm

from vdc_bench.atomic_write import atomic_write_text, ensure_output_folder
from vdc_bench.errors import VdcBenchError
from vdc_bench.logs import logger
from vdc_bench.models.auroracap.arg_names import canonical_name
from vdc_bench.records import SWEEP_SCHEMA, PairedDifference, RunSummary, SweepDocument, read_json_file
from vdc_bench.runs import lmms_runner
from vdc_bench.runs.environment import environment_versions
from vdc_bench.runs.lmms_runner import LAUNCHERS, check_extra_args, format_model_args, run_lmms_eval
from vdc_bench.runs.paper_metrics import sweep_relative_curve
from vdc_bench.runs.run_summary import summarize_run
from vdc_bench.runs.task_names import check_task_names
from vdc_bench.scoring.aggregate import compare_paired
from vdc_bench.scoring.judge_settings import ENV_BASE_URL, ENV_MODE, ENV_MODEL, ENV_PROTOCOL, redact_url
from vdc_bench.scoring.score_files import read_audit

SWEEP_FILE = "sweep.json"
DONE_FILE = "DONE.json"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".sweep.lock"  # held while a sweep runs: two sweeps on one folder would compute every ratio twice
DEFAULT_RATIOS = (0.05, 0.1, 0.2, 0.4, 1.0)


@dataclass
class SweepConfig:
    output: Path
    ratios: list[float] = field(default_factory=lambda: list(DEFAULT_RATIOS))
    model: str = "auroracap"
    model_args: str = ""  # without token_kept_ratio: the sweep appends it per setting
    tasks: list[str] = field(default_factory=lambda: ["vdc"])
    limit: float | None = None
    gen_kwargs: str | None = None
    judge_base_url: str | None = None  # None: the scorer's default (env, else the embedded judge)
    judge_model: str | None = None
    kind: str = "run"  # "demo" for the tiny random model on the demo set
    timeout_s: float | None = None  # per ratio
    progress: bool = True
    echo: bool = False  # stream lmms-eval's output to stderr
    batch_size: int = 1  # per process
    nproc: int = 1  # data-parallel processes
    launcher: str = "torchrun"  # or "accelerate"
    lmms_args: list[str] = field(default_factory=list)  # further lmms-eval flags
    caption_cache: bool = True  # store finished captions under <output>/caption_cache (or $VDC_CAPTION_CACHE)

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if not self.ratios:
            raise VdcBenchError("sweep: no ratios given")
        for r in self.ratios:
            if not 0.0 < r <= 1.0:
                raise VdcBenchError(f"sweep: token_kept_ratio {r} is outside (0, 1]")
        if len(set(self.ratios)) != len(self.ratios):
            raise VdcBenchError(f"sweep: ratios repeat: {self.ratios}")
        clash = sorted(k for k in model_arg_names(self.model_args) if canonical_name(k) == "token_kept_ratio")
        if clash:
            raise VdcBenchError(f"sweep: remove {clash[0]} from --model_args; the sweep sets it per ratio")
        if self.batch_size < 1 or self.nproc < 1:
            raise VdcBenchError(f"sweep: batch_size and nproc must be >= 1, got {self.batch_size} and {self.nproc}")
        if self.launcher not in LAUNCHERS:
            raise VdcBenchError(f"sweep: launcher must be one of {LAUNCHERS}, got {self.launcher!r}")
        check_extra_args(self.lmms_args)
        if self.kind not in ("run", "demo"):
            raise VdcBenchError(f"sweep: kind must be 'run' or 'demo', got {self.kind!r}")

    def model_args_for(self, ratio: float) -> str:
        return ",".join(filter(None, [format_model_args(self.model_args), f"token_kept_ratio={ratio:g}"]))

    def judge_env(self) -> dict[str, str]:
        if not self.judge_base_url:
            return {}
        if not self.judge_model:
            raise VdcBenchError("sweep: --judge-base-url needs --judge-model")
        return {ENV_MODE: "url", ENV_BASE_URL: self.judge_base_url, ENV_MODEL: self.judge_model}

    def fingerprint(self, ratio: float) -> dict[str, Any]:
        """What must match for a finished ratio to be reused. Batch size and process count change fp16
        numerics (padding, per-rank batches), and extra lmms-eval flags may change what runs (seed, offset);
        they enter only when set, so sweeps begun before they existed still resume. The launcher does not."""
        fingerprint: dict[str, Any] = {
            "model": self.model,
            "model_args": self.model_args_for(ratio),
            "tasks": list(self.tasks),
            "limit": self.limit,
            "gen_kwargs": self.gen_kwargs,
            "judge": self.judge_identity(),
        }
        if self.batch_size != 1:
            fingerprint["batch_size"] = self.batch_size
        if self.nproc != 1:
            fingerprint["nproc"] = self.nproc
        if self.lmms_args:
            fingerprint["lmms_args"] = list(self.lmms_args)
        return fingerprint

    def judge_identity(self) -> dict[str, str]:
        """The judge and protocol the runs will use: explicit settings over the VDC_JUDGE* environment.
        Written to DONE.json, so the URL is redacted (credentials do not change which judge it is)."""
        from_env = {name: os.environ.get(name, "").strip() for name in (ENV_MODE, ENV_BASE_URL, ENV_MODEL, ENV_PROTOCOL)}
        identity = {k: v for k, v in {**from_env, **self.judge_env()}.items() if v}
        if ENV_BASE_URL in identity:
            identity[ENV_BASE_URL] = redact_url(identity[ENV_BASE_URL])
        return identity


def model_arg_names(model_args: str) -> list[str]:
    """The names in ``"k=v,k2=v2"``."""
    names = []
    for part in filter(None, (p.strip() for p in model_args.split(","))):
        key, sep, _ = part.partition("=")
        if not sep:
            raise VdcBenchError(f"model_args: {part!r} is not key=value")
        names.append(key.strip())
    return names


def ratio_dir(output: Path, ratio: float) -> Path:
    return output / f"ratio_{ratio:g}"


def _write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


def _fingerprint_id(fingerprint: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]


def completed_summary(config: SweepConfig, ratio: float) -> RunSummary | None:
    """The saved summary of a finished ratio, None if it must (re)run; error if it ran differently."""
    folder = ratio_dir(config.output, ratio)
    marker = folder / DONE_FILE
    if not marker.is_file():
        return None
    done = read_json_file(marker)
    expected = config.fingerprint(ratio)
    if done.get("fingerprint_id") != _fingerprint_id(expected):
        raise VdcBenchError(
            f"{marker}: this ratio was evaluated with a different configuration "
            f"({json.dumps(done.get('fingerprint'))}); use a new --output folder or delete {folder}"
        )
    return RunSummary.load(folder / SUMMARY_FILE)


def _set_aside(folder: Path) -> None:
    """Move a crashed attempt out of the way (its log stays readable) so it cannot mix with the rerun."""
    if folder.exists():
        dest = folder.parent / ".incomplete" / f"{folder.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(dest))


def evaluate_ratio(config: SweepConfig, ratio: float, label: str) -> RunSummary:
    """Run lmms-eval (generation + every task's metrics, VDCscore included, at aggregation) for one ratio and
    mark it done."""
    folder = ratio_dir(config.output, ratio)
    _set_aside(folder)
    started = time.time()
    run_lmms_eval(
        config.model,
        config.model_args_for(ratio),
        config.tasks,
        folder,
        # the caption cache sits beside the ratio folders: a crashed ratio's folder is set aside, its captions stay
        env={**config.judge_env(), "PYTHONUNBUFFERED": "1",
             **lmms_runner.caption_cache_env(config.output, config.caption_cache)},
        timeout=config.timeout_s,
        echo=config.echo,
        limit=config.limit,
        gen_kwargs=config.gen_kwargs,
        batch_size=config.batch_size,
        nproc=config.nproc,
        launcher=config.launcher,
        extra_args=config.lmms_args,
    )
    summary = summarize_run(folder, label=label, kind=config.kind, versions=environment_versions())
    check_recorded_ratio(summary, ratio, config.model, folder)
    if summary.scores is None and summary.efficiency.captions:  # VDC samples, never judged
        raise VdcBenchError(
            f"{folder}: lmms-eval wrote VDC samples but no VDCscore scores (vdcscore_*/vdcscore_scores.json); "
            f"see {folder / 'lmms_eval.log'}"
        )
    if not summary.task_metrics and summary.scores is None:
        raise VdcBenchError(f"{folder}: lmms-eval's results file holds no metric for {config.tasks}; "
                            f"see {folder / 'lmms_eval.log'}")
    _write_json(folder / SUMMARY_FILE, summary.to_dict())
    if summary.judging_failure:
        # Not marked done: the next run evaluates this ratio again (judged verdicts come from the cache).
        raise VdcBenchError(f"ρ={ratio:g}: {summary.judging_failure} (not marked done; see {summary.scores_path})")
    fingerprint = config.fingerprint(ratio)
    _write_json(folder / DONE_FILE, {
        "fingerprint": fingerprint,
        "fingerprint_id": _fingerprint_id(fingerprint),
        "ratio": ratio,
        "results_path": summary.results_path,
        "scores_path": summary.scores_path,
        "wall_s": round(time.time() - started, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    return summary


def check_recorded_ratio(summary: RunSummary, ratio: float, model: str, folder: Path) -> None:
    """The ratio a setting ran with must be the one asked for. The adapter records it in the stats of VDC
    samples; a run without such samples (only other tasks) records none, so the ratio passed in
    ``model_args`` stands, marked as such (``token_kept_ratio_source``)."""
    if summary.token_kept_ratio is None and summary.efficiency.captions == 0:
        summary.token_kept_ratio, summary.token_kept_ratio_source = ratio, "model_args"
        return
    recorded = summary.token_kept_ratio
    if recorded is None or f"{recorded:g}" != f"{ratio:g}":  # compared as passed in model_args
        got = "no token_kept_ratio" if recorded is None else f"token_kept_ratio {recorded:g}"
        raise VdcBenchError(
            f"{folder}: the model recorded {got} in its samples, not {ratio:g}; a sweep needs a model that "
            f"takes and records token_kept_ratio (--model {model})"
        )


def paired_differences(points: list[RunSummary]) -> list[PairedDifference]:
    """VDCscore(higher ratio) - VDCscore(next lower ratio) on the videos both scored, with CIs."""
    ordered = sorted((p for p in points if p.audit_path and p.token_kept_ratio is not None),
                     key=lambda p: p.token_kept_ratio)
    out = []
    for low, high in zip(ordered, ordered[1:], strict=False):
        comparison = compare_paired(read_audit(Path(high.audit_path)), read_audit(Path(low.audit_path)))
        out.append(PairedDifference(a=high.token_kept_ratio, b=low.token_kept_ratio, comparison=comparison))
    return out


def sweep_document(config: SweepConfig, points: list[RunSummary]) -> SweepDocument:
    cfg = asdict(config)
    cfg["output"] = str(config.output)
    if config.judge_base_url:
        cfg["judge_base_url"] = redact_url(config.judge_base_url)
    return SweepDocument(
        schema=SWEEP_SCHEMA,
        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        config=cfg,
        versions=environment_versions(),
        points=sorted(points, key=lambda p: p.token_kept_ratio or 0.0),
        paired=paired_differences(points),
        relative=sweep_relative_curve(points),
    )


def run_sweep(config: SweepConfig) -> Path:
    """Evaluate every ratio not yet done, then write ``sweep.json``. Returns its path (the report is
    ``reporting.report.write_report``'s job, composed by the command)."""
    check_task_names(config.tasks)
    ensure_output_folder(config.output, "sweep folder")
    lock = FileLock(config.output / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout as err:
        raise VdcBenchError(
            f"{config.output}: another vdc-bench sweep is running on this folder (it holds {lock.lock_file}); "
            "wait for it to finish, or use another --output"
        ) from err
    try:
        return _run_locked(config)
    finally:
        lock.release()


def _run_locked(config: SweepConfig) -> Path:
    points = []
    bar = tqdm(config.ratios, desc="token_kept_ratio sweep", unit="ratio", disable=not config.progress)
    for ratio in bar:
        bar.set_postfix_str(f"ρ={ratio:g}")
        summary = completed_summary(config, ratio)
        if summary is None:
            summary = evaluate_ratio(config, ratio, label=f"{config.model} ρ={ratio:g}")
        else:
            logger.info(f"[sweep] ρ={ratio:g}: already done ({ratio_dir(config.output, ratio) / DONE_FILE}), reusing")
        points.append(summary)
    bar.close()
    path = config.output / SWEEP_FILE
    _write_json(path, sweep_document(config, points).to_dict())
    return path


def load_sweep(path: Path) -> tuple[SweepDocument, list[RunSummary]]:
    """(sweep document, its points) from a saved ``sweep.json``, checked field by field."""
    doc = SweepDocument.load(path)
    return doc, doc.points
