"""The three outputs of a scoring run: scores JSON, Markdown table, per-QA audit JSONL.

All written atomically (temp file in the same folder + rename): a crash never leaves a half file.
The scores JSON is a ``ScoresDocument`` (vdc_bench/records.py). Never contains an API key or a full
base URL (only its host).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vdc_bench import __version__
from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import JUDGING_FAILED, SCORES_SCHEMA, JudgeCalls, ScoresDocument
from vdc_bench.render.markdown_table import markdown_table
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import Protocol, is_published_judge
from vdc_bench.scoring.scorer import QAJudgement

SCORES_NAME = "vdcscore_scores.json"
TABLE_NAME = "vdcscore_table.md"
AUDIT_NAME = "vdcscore_audit.jsonl"


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def scores_document(
    summary: dict[str, Any],
    settings: JudgeSettings,
    protocol: Protocol,
    calls: JudgeCalls | None,
    inputs: Sequence[str],
    counts: dict[str, Any],
    elapsed_s: float | None = None,
) -> ScoresDocument:
    """The scores document; ``summary`` is ``aggregate.summarize``'s block (checked field by field here)."""
    failed = {s: sum(b["failures"].get(s, 0) for b in summary["dimensions"].values()) for s in JUDGING_FAILED}
    return ScoresDocument.from_dict({
        "schema": SCORES_SCHEMA,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # Comparable with the published numbers only with their prompts AND their judge.
        "protocol": protocol.describe() | {
            "comparable_with_published": not protocol.constrained and is_published_judge(settings.model)
        },
        "judge": settings.public(),
        "versions": {"vdc-bench": __version__, "lmms-eval": _version("lmms-eval"), "openai": _version("openai")},
        "inputs": list(inputs),
        "counts": counts,
        "calls": calls.to_dict() if calls is not None else None,
        "elapsed_s": elapsed_s,
        # QAs without a verdict: while any remain, the numbers below are not a VDCscore (judging_failure()).
        "judging": {"qas": counts["qas"], "failed": sum(failed.values()), **failed},
        **summary,
    }, "scores document")


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def format_ci(ci: list[float] | None, digits: int, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return "–" if not ci else f"[{ci[0]:{sign}.{digits}f}, {ci[1]:{sign}.{digits}f}]"


def markdown_report(doc: ScoresDocument) -> str:
    headers = ["dimension", "videos", "QAs", "acc", "acc 95% CI", "score", "score 95% CI", "micro acc", "failed QAs"]
    rows = []
    for dim, b in doc.dimensions.items():
        unjudged = sum(b.failures.get(s, 0) for s in JUDGING_FAILED)
        label = f"{dim} (NOT VALID: {unjudged} QAs not judged)" if unjudged else dim
        rows.append([
            label, b.n_videos, b.n_qas, _fmt(b.acc, 2), format_ci(b.acc_ci95, 2), _fmt(b.score, 3),
            format_ci(b.score_ci95, 3), _fmt(b.micro_acc, 2), sum(b.failures.values()),
        ])
    overall = doc.vdcscore
    failure = doc.judging_failure()
    if overall:
        n = overall.n_dimensions
        label = "**VDCscore**" if overall.complete else f"mean of {n} dimension{'s' if n > 1 else ''}"
        if failure:
            label = f"NOT VALID ({label.strip('*')}: QAs not judged)"
        rows.append([
            label, "", overall.n_qas, _fmt(overall.acc, 2), format_ci(overall.acc_ci95, 2),
            _fmt(overall.score, 3), format_ci(overall.score_ci95, 3), _fmt(overall.micro_acc, 2),
            sum(overall.failures.values()),
        ])
    judge, proto = doc.judge, doc.protocol
    notes = [
        f"Judge `{judge.model}` at `{judge.base_url_host}` ({judge.source}), temperature "
        f"{judge.temperature}, seed {judge.seed}; protocol `{proto.name}` "
        f"(prompts sha256 `{(proto.prompt_sha256 or '')[:12]}`)"
        + ("" if proto.comparable_with_published else
           " — constrained JSON, NOT comparable with published VDCscore" if proto.constrained_json else
           " — not the published judge (Llama-3.1-8B), NOT comparable with published VDCscore")
        + ".",
        "acc ×100 (share of 'yes'), score 0–5; macro over videos, failed QAs count as no/0; "
        f"95% CIs: bootstrap over videos ({doc.bootstrap['iters']} draws).",
    ]
    if judge.description:
        notes.append(f"Judge: {judge.description}.")
    empty = doc.counts.get("empty_qas")
    if empty:
        notes.append(f"{len(empty)} QAs have an empty question or answer and were judged as they are: "
                     f"{', '.join(empty)}.")
    banner = f"**NOT A VALID VDCscore: {failure}.** Unjudged QAs count as no/0 below.\n\n" if failure else ""
    return banner + markdown_table(headers, rows) + "\n" + "\n".join(f"* {n}" for n in notes) + "\n"


def write_outputs(out_dir: Path, doc: ScoresDocument, judgements: Iterable[QAJudgement]) -> dict[str, Path]:
    """Write scores JSON, Markdown table and audit JSONL into ``out_dir``; returns their paths."""
    paths = {"scores": out_dir / SCORES_NAME, "table": out_dir / TABLE_NAME, "audit": out_dir / AUDIT_NAME}
    atomic_write_text(paths["audit"], (json.dumps(j.as_dict(), ensure_ascii=False) + "\n" for j in judgements))
    atomic_write_text(paths["table"], markdown_report(doc))
    atomic_write_text(paths["scores"], json.dumps(doc.to_dict(), indent=1, ensure_ascii=False) + "\n")
    return paths


def keep_earlier(out_dir: Path) -> Path | None:
    """Move an earlier run's files out of ``out_dir`` into ``earlier/<its UTC time>/``, so scoring again
    into the same folder never silently replaces a result. Returns where they went (None: nothing there)."""
    earlier = sorted(p for p in out_dir.glob("vdcscore_*") if p.is_file())
    if not earlier:
        return None
    try:
        stamp = ScoresDocument.load(out_dir / SCORES_NAME).created_utc
    except VdcBenchError:  # missing or unreadable: the newest file's time
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(p.stat().st_mtime for p in earlier)))
    dest = out_dir / "earlier" / str(stamp).replace(":", "")
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{dest.name.split('_')[0]}_{n}")
    dest.mkdir(parents=True)
    # The scores JSON first: it marks a complete result, so a kill mid-move never leaves one without its audit.
    for path in sorted(earlier, key=lambda p: p.name != SCORES_NAME):
        path.rename(dest / path.name)
    return dest


def read_audit(path: Path) -> list[QAJudgement]:
    """QA judgements of an earlier run (its audit JSONL, or the folder holding it)."""
    if path.is_dir():
        path = path / AUDIT_NAME
    if not path.is_file():
        raise VdcBenchError(f"{path}: no audit file ({AUDIT_NAME}) to compare against")
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(QAJudgement(**json.loads(line)))
                except (json.JSONDecodeError, TypeError) as err:
                    raise VdcBenchError(f"{path}:{lineno}: not a VDCscore audit record ({err})") from err
    return out
