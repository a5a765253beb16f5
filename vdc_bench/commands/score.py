"""``vdc-bench score``: VDCscore for caption files of any known format (``scoring/caption_sources.py``):
lmms-eval samples of our tasks or of its built-in VDC tasks, plain JSONL, aurora's JSONL, VLMEvalKit sheets.

Writes ``vdcscore_scores.json``, ``vdcscore_table.md`` and ``vdcscore_audit.jsonl`` to ``--out``.
With ``--compare-to`` (another run's audit file or output folder) it also writes the paired
comparison ``vdcscore_paired.json`` (this run minus that run, on the videos both scored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

from vdc_bench.atomic_write import atomic_write_text, ensure_output_folder
from vdc_bench.cli_options import deprecated_alias
from vdc_bench.commands.option_types import non_negative_float, non_negative_int, positive_float, positive_int
from vdc_bench.errors import VdcBenchError
from vdc_bench.judge.embedded import resolve_judge
from vdc_bench.render.markdown_table import markdown_table
from vdc_bench.runs.lmms_runner import find_run
from vdc_bench.scoring import judge_settings
from vdc_bench.scoring.aggregate import DEFAULT_BOOTSTRAP_ITERS, DEFAULT_BOOTSTRAP_SEED, compare_paired
from vdc_bench.scoring.batch_files import BatchRound, check_export_folder, read_outputs, write_requests
from vdc_bench.scoring.caption_sources import ReferenceData, load_captions
from vdc_bench.scoring.cost_estimate import estimate_cost
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.pipeline import ScoringConfig, score_captions
from vdc_bench.scoring.protocol import DEFAULT_PROTOCOL, PROTOCOLS, load_protocol
from vdc_bench.scoring.score_files import TABLE_NAME, format_ci, keep_earlier, read_audit
from vdc_bench.scoring.verdict_cache import (
    CACHE_ENV,
    VerdictCache,
    check_local_filesystem,
    default_cache_path,
)

PAIRED_NAME = "vdcscore_paired.json"


def add_judge_arguments(p: argparse.ArgumentParser) -> None:
    """Judge endpoint and call options, shared with ``make-qa``. Unset options fall back to env/defaults."""
    g = p.add_argument_group("judge (defaults: VDC_JUDGE, VDC_JUDGE_BASE_URL, VDC_JUDGE_MODEL, OPENAI_API_KEY)")
    g.add_argument("--judge", choices=("embedded", "url"), help="embedded local judge or an OpenAI-compatible URL")
    g.add_argument("--judge-base-url", help="e.g. http://localhost:30000/v1; several, comma-separated, share the calls")
    g.add_argument("--judge-model", help="model name the server expects")
    g.add_argument("--judge-api-key", help="prefer the OPENAI_API_KEY env var (never written to any file)")
    g.add_argument("--concurrency", type=positive_int, help=judge_settings.CONCURRENCY_HELP)
    g.add_argument("--temperature", type=non_negative_float, help="default 0 (deterministic); 1.0 mimics the reference's sampling")
    g.add_argument("--seed", type=int, help="sampling seed sent with every call (default 1234)")
    g.add_argument("--max-tokens", type=positive_int, help="per call")
    g.add_argument("--timeout", type=positive_float, dest="timeout_s", help="seconds per HTTP attempt (default 120)")
    g.add_argument("--max-attempts", type=positive_int, help="HTTP attempts per call before it counts as failed (default 6)")
    g.add_argument("--reasks", type=non_negative_int, help="follow-up turns after an unparsable reply (default 1)")
    g.add_argument("--cache", type=Path, help=f"verdict cache (default ${CACHE_ENV} or {default_cache_path()})")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the verdict cache")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def judge_from_args(args: argparse.Namespace) -> JudgeSettings:
    return resolve_judge(
        base_url=args.judge_base_url, model=args.judge_model, api_key=args.judge_api_key, mode=args.judge,
        concurrency=args.concurrency, temperature=args.temperature, seed=args.seed, max_tokens=args.max_tokens,
        timeout_s=args.timeout_s, max_attempts=args.max_attempts, reasks=args.reasks,
    )


def cache_from_args(args: argparse.Namespace) -> Path | None:
    """The verdict cache path, refused at once where it sits on a network filesystem."""
    path = None if args.no_cache else (args.cache or default_cache_path())
    if path is not None:
        check_local_filesystem(path)
    return path


def register(sub) -> None:
    p = sub.add_parser("score", help="VDCscore (LLM judge) for caption files of any known format")
    p.add_argument("inputs", nargs="+", help="caption files (format auto-detected: lmms-eval samples, JSONL, "
                   "aurora JSONL, VLMEvalKit .xlsx/.tsv) or lmms-eval --output_path folders")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--root", type=Path, help="VDC data folder with the QA, for caption files without QA "
                      "(default: $VDC_ROOT)")
    data.add_argument("--demo", action="store_true", help="take the QA from the demo set")
    p.add_argument("--output", dest="out", metavar="DIR", type=Path, help="output folder (default: <first input folder>/vdcscore)")
    p.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL, help="judge prompts and reply format")
    p.add_argument("--bootstrap-iters", type=non_negative_int, default=DEFAULT_BOOTSTRAP_ITERS,
                   help="bootstrap resamples for the 95%% CIs")
    p.add_argument("--bootstrap-seed", type=int, default=DEFAULT_BOOTSTRAP_SEED, help="seed of the bootstrap resampling")
    p.add_argument("--compare-to", type=Path, help="audit JSONL (or output folder) of another run: paired A-B")
    p.add_argument("--dry-run", action="store_true",
                   help="print the judge calls and tokens this would take (cache hits counted), call nothing")
    p.add_argument("--update-results", action="store_true",
                   help="write the VDCscore values and stderrs into the run's lmms-eval *_results.json "
                        "(in place of --predict_only's 999 placeholders); needs one output folder as input")
    batch = p.add_argument_group("batch mode (OpenAI Batch API or vLLM run_batch files instead of live calls)")
    batch.add_argument("--batch-export", type=Path, metavar="DIR",
                       help="write the judge calls the verdict cache lacks as batch request JSONL files into DIR "
                            "(a new folder per round) and stop; needs --judge-model")
    batch.add_argument("--batch-import", type=Path, nargs="+", metavar="FILE",
                       help="batch output JSONL files: their replies go into the verdict cache, then scoring "
                            "calls nothing (calls still without a reply are reported); with --batch-export, "
                            "the next round is written instead of scores")
    add_judge_arguments(p)
    deprecated_alias(p, "--out", "--output")
    p.set_defaults(func=run)


def _default_out(first_input: str) -> Path:
    path = Path(first_input)
    return (path if path.is_dir() else path.parent) / "vdcscore"


def _paired_table(paired: dict) -> str:
    def row(label: str, common: object, b: dict) -> list[object]:
        return [label, common, f"{b['acc']:+.2f}", format_ci(b["acc_ci95"], 2, signed=True),
                f"{b['score']:+.3f}", format_ci(b["score_ci95"], 3, signed=True)]

    rows = [row(d, b["common"], b) for d, b in paired["dimensions"].items()]
    if paired["vdcscore"]:
        rows.append(row("mean", "", paired["vdcscore"]))
    return markdown_table(["dimension", "common videos", "Δ acc", "95% CI", "Δ score", "95% CI"], rows)


def _data_root(args: argparse.Namespace):
    def resolve() -> Path:
        if args.demo:
            from vdc_bench.dataset.demo import ensure_demo_root

            return ensure_demo_root()
        root = args.root or os.environ.get("VDC_ROOT")
        if not root:
            raise VdcBenchError("no VDC data folder: pass --root DIR, set VDC_ROOT, or pass --demo")
        return Path(root).expanduser()

    return resolve


def _dry_run(args: argparse.Namespace, items: list, config: ScoringConfig) -> int:
    """Estimate without starting or calling any judge (an embedded judge is keyed by the name given, if any)."""
    def not_started(model: str | None) -> SimpleNamespace:
        return SimpleNamespace(base_url="http://embedded.not.started", model=model or "embedded",
                               description="embedded judge (not started for --dry-run)")

    settings = judge_settings.resolve_judge(
        base_url=args.judge_base_url, model=args.judge_model, mode=args.judge, embedded=not_started,
        temperature=args.temperature, seed=args.seed, max_tokens=args.max_tokens,
    )
    cache = VerdictCache(config.cache_path)
    try:
        cost = estimate_cost(items, settings, config.protocol, cache)
    finally:
        cache.close()
    print(f"dry run, judge {cost['model']}: {cost['captions']} captions ({cost['failed_captions']} failed, not judged), "
          f"{cost['qas']} QAs\n"
          f"calls to send: {cost['calls_to_send']} ({cost['calls_cached']} more answered by the verdict cache)\n"
          f"prompt tokens: ~{cost['prompt_tokens_estimate']} (4 characters a token); completion tokens: at most "
          f"{cost['completion_tokens_max']}; re-asks after unparsable replies come on top")
    return 0


def _batch_round(args: argparse.Namespace) -> BatchRound | None:
    """Batch mode's options checked, its output files read: before any other work."""
    if not (args.batch_export or args.batch_import):
        return None
    if args.dry_run or args.no_cache:
        raise VdcBenchError("--batch-export/--batch-import keep the replies in the verdict cache: "
                            "drop --dry-run and --no-cache")
    if not (args.judge_model or os.environ.get(judge_settings.ENV_MODEL, "").strip()):
        raise VdcBenchError(f"batch mode needs the judge model every request names: --judge-model or "
                            f"${judge_settings.ENV_MODEL}")
    if args.batch_export:
        check_export_folder(args.batch_export)
    return read_outputs(args.batch_import) if args.batch_import else BatchRound()


def _batch_settings(args: argparse.Namespace) -> JudgeSettings:
    """The judge batch requests ask: the model and sampling of online mode (so the same cache keys), no server."""
    model = args.judge_model or os.environ[judge_settings.ENV_MODEL].strip()
    return JudgeSettings(base_url="", model=model, source="batch", description="batch request/output files").with_options(
        temperature=args.temperature, seed=args.seed, max_tokens=args.max_tokens, reasks=args.reasks,
    )


def _export(args: argparse.Namespace, items: list, settings: JudgeSettings, config: ScoringConfig) -> int:
    doc, _ = score_captions(items, settings, dataclasses.replace(config, bootstrap_iters=0), None)
    batch = config.batch
    assert batch is not None and doc.judging is not None
    judged = doc.judging.qas - doc.judging.judge_failed
    if not batch.requests:
        print(f"batch: all {doc.judging.qas} QAs have their replies; score with --batch-import (the last output "
              "file) and without --batch-export to write the scores")
        return 0
    paths = write_requests(args.batch_export, batch.requests)
    print(f"batch: {len(batch.requests)} judge requests written to {', '.join(str(p) for p in paths)} "
          f"({judged} of {doc.judging.qas} QAs complete); run them, e.g. python -m vllm.entrypoints.openai.run_batch "
          f"-i {paths[0]} -o OUT.jsonl --model {settings.model}, then score with --batch-import OUT.jsonl ...")
    return 0


def _results_to_update(args: argparse.Namespace) -> Path | None:
    """The results file ``--update-results`` will rewrite, found before any judging."""
    if not args.update_results:
        return None
    if len(args.inputs) != 1 or not Path(args.inputs[0]).is_dir():
        raise VdcBenchError("--update-results needs exactly one input: the lmms-eval --output_path folder of one run")
    run = find_run(Path(args.inputs[0]))
    if run is None:
        raise VdcBenchError(f"--update-results: no lmms-eval *_results.json under {args.inputs[0]}")
    return run.results_path


def run(args: argparse.Namespace) -> int:
    results_path = _results_to_update(args)
    batch = _batch_round(args)
    items, formats = load_captions(args.inputs, ReferenceData(_data_root(args)))
    for path, fmt in formats.items():
        print(f"{path}: {fmt} captions")
    # An export writes request files only, no scores.
    out_dir = None if args.batch_export else ensure_output_folder(args.out or _default_out(args.inputs[0]))
    baseline = read_audit(args.compare_to) if args.compare_to else None  # read before any work (or move)
    config = ScoringConfig(
        protocol=load_protocol(args.protocol),
        cache_path=cache_from_args(args),
        bootstrap_iters=args.bootstrap_iters,
        bootstrap_seed=args.bootstrap_seed,
        progress=not args.quiet,
        batch=batch,
    )
    if args.dry_run:
        return _dry_run(args, items, config)
    settings = judge_from_args(args) if batch is None else _batch_settings(args)
    if batch is not None and args.batch_export:
        return _export(args, items, settings, config)
    assert out_dir is not None
    kept = keep_earlier(out_dir)
    if kept:
        print(f"earlier result in {out_dir} kept in {kept}", file=sys.stderr)
    doc, judgements = score_captions(items, settings, config, out_dir, [str(p) for p in args.inputs])
    print((out_dir / TABLE_NAME).read_text(encoding="utf-8"))
    calls = doc.calls
    print(f"judge calls: {calls.succeeded} made, {calls.cache_hits} from cache, {calls.retries} retries, "
          f"{calls.failed} failed; outputs in {out_dir}")
    if batch is not None:
        print(f"batch: {len(batch.used)} imported replies used, {len(batch.failures)} failed output lines, "
              f"{len(batch.requests)} calls still without a reply (--batch-export DIR writes them)")
        if batch.unused():
            print(f"batch: {batch.unused()} imported replies were not asked for by this scoring (another judge "
                  "model, protocol, sampling or caption set?)", file=sys.stderr)
    if baseline is not None:
        paired = compare_paired(judgements, baseline, args.bootstrap_iters, args.bootstrap_seed)
        paired["a"], paired["b"] = str(out_dir), str(args.compare_to)
        atomic_write_text(out_dir / PAIRED_NAME, json.dumps(paired, indent=1) + "\n")
        print(f"paired comparison, this run minus {args.compare_to}:\n{_paired_table(paired)}")
    failure = doc.judging_failure()
    if failure:
        print(f"vdc-bench score: error: {failure}", file=sys.stderr)
        return 1
    if results_path is not None:
        from vdc_bench.lmms_tasks.vdc.results_file import update_results  # imports lmms-eval: only when asked

        updated = update_results(results_path, doc.dimensions)
        print(f"VDCscore written into {results_path} for {', '.join(updated)}")
    return 0
