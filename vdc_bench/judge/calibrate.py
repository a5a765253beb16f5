"""How far can a judge be trusted? Score captions whose right answer we know, several times.

Conditions, on the same reference QAs of each (dimension, video):
* ``oracle``: the reference caption itself -> should score high;
* ``mismatched``: the reference caption of another video of the same dimension -> should score low;
* ``generic``: a caption that fits any video and says nothing (``calibration_captions.json``) -> low;
* ``blind``: the empty caption -> lowest.

Every condition is judged ``repeats`` times without the verdict cache (each repeat uses seed
``seed + r``), which gives per-QA agreement and the QAs whose verdict flips. Margins are paired
differences (same videos) from ``vdc_bench.scoring.aggregate.compare_paired``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.errors import VdcBenchError
from vdc_bench.logs import logger
from vdc_bench.scoring.aggregate import compare_paired, summarize
from vdc_bench.scoring.caption_records import CaptionItem, item_from_record
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import Protocol
from vdc_bench.scoring.scorer import QAJudgement, judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache

CAPTIONS_FILE = Path(__file__).resolve().parent / "calibration_captions.json"
CONDITIONS = ("oracle", "mismatched", "generic", "blind")
EXPECTED_ORDER = ("oracle", "mismatched", "blind")  # a usable judge ranks the conditions in this order
MARGINS = (("oracle", "mismatched"), ("mismatched", "blind"), ("oracle", "blind"), ("oracle", "generic"))


@dataclass(frozen=True)
class CalibrationConfig:
    videos_per_dimension: int = 2
    qas_per_video: int = 3  # 0: all
    dimensions: tuple[str, ...] = DIMENSIONS
    repeats: int = 2
    seed: int = 1234
    source: str = "demo"
    root: Path | None = None


@dataclass
class ConditionRuns:
    """The judgements of one condition, one list per repeat (same QAs in the same order)."""

    runs: list[list[QAJudgement]] = field(default_factory=list)


def load_items(cfg: CalibrationConfig) -> list[CaptionItem]:
    """Reference items (caption = reference caption) of the first videos (by id) of each dimension."""
    from vdc_bench.dataset.task_docs import build_task_docs

    items: list[CaptionItem] = []
    for dim in cfg.dimensions:
        spec: dict[str, Any] = {"dimension": dim, "source": cfg.source}
        if cfg.root is not None:
            spec["root"] = str(cfg.root)
        docs = build_task_docs(spec).docs
        usable = sorted(
            (d for d in docs if d.get("reference_caption") and d.get("qa_list") not in (None, "", "[]")),
            key=lambda d: d["video_id"],
        )
        if len(usable) < 2:
            raise VdcBenchError(
                f"calibration needs at least 2 videos with a reference caption and QAs in dimension {dim!r}; "
                f"found {len(usable)} in source {cfg.source!r}"
            )
        for doc in usable[: max(2, cfg.videos_per_dimension)]:
            item = item_from_record(
                {"video_id": doc["video_id"], "dimension": doc["dimension"], "caption": doc["reference_caption"],
                 "qa": doc["qa_list"]},
                where=doc["sample_key"],
            )
            if cfg.qas_per_video:
                item = CaptionItem(item.dimension, item.video_id, item.caption, item.qa[: cfg.qas_per_video])
            items.append(item)
    return items


def condition_items(oracle: Sequence[CaptionItem], generic_caption: str) -> dict[str, list[CaptionItem]]:
    """The four conditions over the same QAs; ``mismatched`` takes the next video's caption (same dimension)."""
    by_dim: dict[str, list[CaptionItem]] = {}
    for item in oracle:
        by_dim.setdefault(item.dimension, []).append(item)
    mismatched = []
    for group in by_dim.values():
        for i, item in enumerate(group):
            other = group[(i + 1) % len(group)]
            mismatched.append(CaptionItem(item.dimension, item.video_id, other.caption, item.qa))
    return {
        "oracle": list(oracle),
        "mismatched": mismatched,
        "generic": [CaptionItem(i.dimension, i.video_id, generic_caption, i.qa) for i in oracle],
        "blind": [CaptionItem(i.dimension, i.video_id, "", i.qa) for i in oracle],
    }


def _qa_key(j: QAJudgement) -> tuple[str, str, int]:
    return (j.dimension, j.video_id, j.qa_index)


def stability(runs: list[list[QAJudgement]]) -> dict[str, Any]:
    """Per-QA agreement of ``pred`` (and exact score) across repeats, and the QAs that flip."""
    per_qa: dict[tuple[str, str, int], list[QAJudgement]] = {}
    for run in runs:
        for j in run:
            per_qa.setdefault(_qa_key(j), []).append(j)
    flips = []
    same_pred = same_score = 0
    for js in per_qa.values():
        preds = [j.pred if j.status == "ok" else j.status for j in js]
        scores = [j.score for j in js]
        same_pred += len(set(preds)) == 1
        same_score += len(set(scores)) == 1
        if len(set(preds)) > 1:
            j = js[0]
            flips.append({
                "dimension": j.dimension, "video_id": j.video_id, "qa_index": j.qa_index, "question": j.question,
                "answer": j.answer, "preds": preds, "scores": scores,
                "extracted_answers": [x.extracted_answer for x in js],
            })  # fmt: skip
    n = len(per_qa)
    return {
        "n_qas": n,
        "repeats": len(runs),
        "pred_agreement": same_pred / n if n else None,
        "score_agreement": same_score / n if n else None,
        "flipping_qas": flips,
    }


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    overall = summary["vdcscore"] or {}
    return {
        "acc": overall.get("acc"),
        "score": overall.get("score"),
        "micro_acc": overall.get("micro_acc"),
        "failures": overall.get("failures"),
        "dimensions": {d: {"acc": b["acc"], "score": b["score"]} for d, b in summary["dimensions"].items()},
    }


def calibrate(
    cfg: CalibrationConfig,
    settings: JudgeSettings,
    protocol: Protocol,
    progress: bool = True,
    items: Sequence[CaptionItem] | None = None,
) -> dict[str, Any]:
    """Run every condition ``cfg.repeats`` times; return the calibration report (JSON-serialisable)."""
    generic = json.loads(CAPTIONS_FILE.read_text(encoding="utf-8"))["generic_caption"]
    conditions = condition_items(items if items is not None else load_items(cfg), generic)
    results = {name: ConditionRuns() for name in CONDITIONS}
    started = time.perf_counter()
    for r in range(cfg.repeats):
        run_settings = settings.with_options(seed=cfg.seed + r)
        for name in CONDITIONS:
            if progress:
                logger.info(f"[calibrate] repeat {r + 1}/{cfg.repeats}: {name}")
            outcome = judge_items(
                conditions[name], run_settings, protocol, VerdictCache(None), progress=progress
            )
            results[name].runs.append(outcome.judgements)
    elapsed = time.perf_counter() - started

    first = {name: results[name].runs[0] for name in CONDITIONS}
    summaries = {name: summarize(first[name], bootstrap_iters=1000) for name in CONDITIONS}
    headline = {name: _headline(summaries[name]) for name in CONDITIONS}
    margins = {}
    for a, b in MARGINS:
        diff = compare_paired(first[a], first[b], bootstrap_iters=1000)["vdcscore"] or {}
        margins[f"{a}-{b}"] = {k: diff.get(k) for k in ("acc", "acc_ci95", "score", "score_ci95")}
    accs = [headline[c]["acc"] for c in EXPECTED_ORDER]
    scores = [headline[c]["score"] for c in EXPECTED_ORDER]
    n_items = len(conditions["oracle"])
    return {
        "schema": "vdc-bench/judge-calibration/v1",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "judge": settings.public(),
        "protocol": protocol.describe(),
        "run": {
            "source": cfg.source,
            "root": str(cfg.root) if cfg.root else None,
            "dimensions": list(cfg.dimensions),
            "videos": sorted({f"{i.dimension}/{i.video_id}" for i in conditions["oracle"]}),
            "items": n_items,
            "qas_per_condition": sum(len(i.qa) for i in conditions["oracle"]),
            "repeats": cfg.repeats,
            "seeds": [cfg.seed + r for r in range(cfg.repeats)],
            "judge_calls_made": sum(
                len(j.raw_call1 or []) + len(j.raw_call2 or [])
                for c in results.values()
                for run in c.runs
                for j in run
            ),
            "elapsed_s": round(elapsed, 1),
            "generic_caption": generic,
        },
        "conditions": headline,
        "margins": margins,
        "order_check": {
            "expected": " > ".join(EXPECTED_ORDER),
            "acc_ok": all(x is not None for x in accs) and accs[0] > accs[1] > accs[2],
            "score_ok": all(x is not None for x in scores) and scores[0] > scores[1] > scores[2],
        },
        "stability": {name: stability(results[name].runs) for name in CONDITIONS},
        # every verdict with the judge's raw replies, for audits (written as calibration_audit.jsonl)
        "audit": [
            {"condition": name, "repeat": r + 1, **j.as_dict()}
            for name in CONDITIONS
            for r, run in enumerate(results[name].runs)
            for j in run
        ],
    }


def markdown(report: dict[str, Any]) -> str:
    def f(x: float | None, digits: int = 2) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    run, judge = report["run"], report["judge"]
    lines = [
        f"# Judge calibration: {judge['model']} ({judge['source']}), protocol {report['protocol']['name']}",
        "",
        f"{judge.get('description') or ''}".strip(),
        "",
        f"Run: {run['items']} (dimension, video) items from `{run['source']}`, {run['qas_per_condition']} QAs per "
        f"condition, {run['repeats']} repeat(s) (seeds {run['seeds']}), temperature {judge['temperature']}, "
        f"{run['judge_calls_made']} judge calls, {run['elapsed_s']} s.",
        "",
        "| condition | VDC acc | VDC score | micro acc | failures | pred agreement over repeats | flipping QAs |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, h in report["conditions"].items():
        st = report["stability"][name]
        fails = sum((h["failures"] or {}).values())
        lines.append(
            f"| {name} | {f(h['acc'], 1)} | {f(h['score'])} | {f(h['micro_acc'], 1)} | {fails} | "
            f"{f(100 * st['pred_agreement'] if st['pred_agreement'] is not None else None, 1)}% | "
            f"{len(st['flipping_qas'])} |"
        )
    lines += ["", "| margin (paired, same videos) | acc [95% CI] | score [95% CI] |", "|---|---|---|"]
    for name, m in report["margins"].items():
        aci = m["acc_ci95"] or [None, None]
        sci = m["score_ci95"] or [None, None]
        lines.append(
            f"| {name} | {f(m['acc'], 1)} [{f(aci[0], 1)}, {f(aci[1], 1)}] | "
            f"{f(m['score'])} [{f(sci[0])}, {f(sci[1])}] |"
        )
    oc = report["order_check"]
    lines += [
        "",
        f"Expected order {oc['expected']}: accuracy {'holds' if oc['acc_ok'] else 'DOES NOT hold'}, "
        f"score {'holds' if oc['score_ok'] else 'DOES NOT hold'}.",
    ]
    flips = [(n, q) for n, st in report["stability"].items() for q in st["flipping_qas"]]
    if flips:
        lines += ["", "Flipping QAs (verdict differs between repeats):", ""]
        for name, q in flips:
            lines.append(
                f"- {name} {q['dimension']}/{q['video_id']} #{q['qa_index']}: {q['question']} -> {q['preds']}"
            )
    return "\n".join(lines) + "\n"
