"""``vdc-bench score``: VDCscore for lmms-eval samples files (runs made with ``--predict_only``).

Writes ``vdcscore_scores.json``, ``vdcscore_table.md`` and ``vdcscore_audit.jsonl`` to ``--out``.
With ``--compare-to`` (another run's audit file or output folder) it also writes the paired
comparison ``vdcscore_paired.json`` (this run minus that run, on the videos both scored).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.judge.embedded import resolve_judge
from vdc_bench.render.markdown_table import markdown_table
from vdc_bench.scoring.aggregate import DEFAULT_BOOTSTRAP_ITERS, DEFAULT_BOOTSTRAP_SEED, compare_paired
from vdc_bench.scoring.caption_records import load_samples
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.pipeline import ScoringConfig, score_captions
from vdc_bench.scoring.protocol import DEFAULT_PROTOCOL, PROTOCOLS, load_protocol
from vdc_bench.scoring.score_files import TABLE_NAME, format_ci, read_audit
from vdc_bench.scoring.verdict_cache import CACHE_ENV, default_cache_path

PAIRED_NAME = "vdcscore_paired.json"


def add_judge_arguments(p: argparse.ArgumentParser) -> None:
    """Judge endpoint and call options, shared with ``make-qa``. Unset options fall back to env/defaults."""
    g = p.add_argument_group("judge (defaults: VDC_JUDGE, VDC_JUDGE_BASE_URL, VDC_JUDGE_MODEL, OPENAI_API_KEY)")
    g.add_argument("--judge", choices=("embedded", "url"), help="embedded local judge or an OpenAI-compatible URL")
    g.add_argument("--judge-base-url", help="e.g. http://localhost:30000/v1")
    g.add_argument("--judge-model", help="model name the server expects")
    g.add_argument("--judge-api-key", help="prefer the OPENAI_API_KEY env var (never written to any file)")
    g.add_argument("--concurrency", type=int, help="concurrent judge calls (default 32)")
    g.add_argument("--temperature", type=float, help="default 0 (deterministic); 1.0 mimics the reference's sampling")
    g.add_argument("--seed", type=int, help="sampling seed sent with every call (default 1234)")
    g.add_argument("--max-tokens", type=int, help="per call")
    g.add_argument("--timeout", type=float, dest="timeout_s", help="seconds per HTTP attempt (default 120)")
    g.add_argument("--max-attempts", type=int, help="HTTP attempts per call before it counts as failed (default 6)")
    g.add_argument("--reasks", type=int, help="follow-up turns after an unparsable reply (default 1)")
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
    return None if args.no_cache else (args.cache or default_cache_path())


def register(sub) -> None:
    p = sub.add_parser("score", help="VDCscore (LLM judge) for lmms-eval samples files or output folders")
    p.add_argument("inputs", nargs="+", help="*samples*.jsonl files, or lmms-eval --output_path folders")
    p.add_argument("--out", type=Path, help="output folder (default: <first input folder>/vdcscore)")
    p.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL)
    p.add_argument("--bootstrap-iters", type=int, default=DEFAULT_BOOTSTRAP_ITERS)
    p.add_argument("--bootstrap-seed", type=int, default=DEFAULT_BOOTSTRAP_SEED)
    p.add_argument("--compare-to", type=Path, help="audit JSONL (or output folder) of another run: paired A-B")
    add_judge_arguments(p)
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


def run(args: argparse.Namespace) -> int:
    items = load_samples(args.inputs)
    out_dir = args.out or _default_out(args.inputs[0])
    config = ScoringConfig(
        protocol=load_protocol(args.protocol),
        cache_path=cache_from_args(args),
        bootstrap_iters=args.bootstrap_iters,
        bootstrap_seed=args.bootstrap_seed,
        progress=not args.quiet,
    )
    settings = judge_from_args(args)
    doc, judgements = score_captions(items, settings, config, out_dir, [str(p) for p in args.inputs])
    print((out_dir / TABLE_NAME).read_text(encoding="utf-8"))
    calls = doc.calls
    print(f"judge calls: {calls.succeeded} made, {calls.cache_hits} from cache, {calls.retries} retries, "
          f"{calls.failed} failed; outputs in {out_dir}")
    if args.compare_to:
        paired = compare_paired(judgements, read_audit(args.compare_to), args.bootstrap_iters, args.bootstrap_seed)
        paired["a"], paired["b"] = str(out_dir), str(args.compare_to)
        atomic_write_text(out_dir / PAIRED_NAME, json.dumps(paired, indent=1) + "\n")
        print(f"paired comparison, this run minus {args.compare_to}:\n{_paired_table(paired)}")
    return 0
