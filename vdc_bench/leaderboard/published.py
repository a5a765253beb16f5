"""Published VDC numbers (verbatim CSV copies in ``data/``) turned into leaderboard entries.

Published values are kept as published. Every check whose result disagrees with them adds a flag to the
entry instead of correcting the number: averages that are not the mean of their five
dimensions beyond rounding, an average equal to one dimension, AuroraCap dimensions that match different
``token_kept_ratio`` settings of the published sweep, and token counts the AuroraCap code cannot produce.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vdc_bench.leaderboard.schema import DIMENSIONS, Entry, Score, mean_of_dimensions
from vdc_bench.leaderboard.token_budget import reachable_tokens_per_frame, tokens_per_frame
from vdc_bench.records import RelativePoint
from vdc_bench.runs.paper_metrics import PAPER_METRICS, relative_curve

DATA_DIR = Path(__file__).resolve().parent / "data"
LEADERBOARD_CSV = DATA_DIR / "vdc_published_leaderboard.csv"
RATIO_SWEEP_CSV = DATA_DIR / "auroracap_ratio_sweep_published.csv"
PUBLISHED_JUDGE = "Llama-3.1-8B"
PUBLISHED_PROTOCOL = "VDCscore as published (aurora post_eval; judge Llama-3.1-8B)"
PUBLISHED_DATE = "2025-07-03"
# The lmms-eval wrapper defaults of upstream AuroraCap: what a user running AuroraCap gets.
WRAPPER_FRAMES, WRAPPER_RATIO = 16, 0.4
_AVERAGE_FLAG = "published avg {metric} "


@dataclass(frozen=True)
class PublishedValue:
    """A number as published, with its text (the number of decimals sets the rounding tolerance)."""

    text: str

    @property
    def value(self) -> float:
        return float(self.text)

    @property
    def half_unit(self) -> float:
        decimals = len(self.text.split(".")[1]) if "." in self.text else 0
        return 0.5 * 10.0**-decimals


@dataclass(frozen=True)
class RatioSweepPoint:
    """One column of the published AuroraCap sweep: VDC accuracy per dimension at ratio rho."""

    ratio: float
    acc: dict[str, float]

    @property
    def mean_acc(self) -> float:
        return sum(self.acc[d] for d in DIMENSIONS) / len(DIMENSIONS)

    @property
    def code_tokens_per_frame(self) -> int:
        return tokens_per_frame(self.ratio)


def load_ratio_sweep(path: Path = RATIO_SWEEP_CSV) -> list[RatioSweepPoint]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        RatioSweepPoint(ratio=float(row["ratio"]), acc={d: float(row[f"vdc_{d}_acc"]) for d in DIMENSIONS})
        for row in rows
    ]


def load_paper_sweep(path: Path = RATIO_SWEEP_CSV) -> dict[str, dict[float, float]]:
    """All 17 metrics of the published AuroraCap sweep: column -> {ratio: value}, in the CSV's column order."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [m.column for m in PAPER_METRICS]
    return {c: {float(row["ratio"]): float(row[c]) for row in rows} for c in columns}


def published_relative_curve(columns: list[str] | None = None, path: Path = RATIO_SWEEP_CSV) -> list[RelativePoint]:
    """The paper's "average performance" curve recomputed from the published sweep, over ``columns`` (all 17
    by default; a partial sweep is compared with the curve over the metrics it ran), at all published ratios."""
    series = load_paper_sweep(path)
    return relative_curve({c: series[c] for c in (columns if columns is not None else series)})


def _value(row: dict[str, str], key: str) -> PublishedValue | None:
    text = (row.get(key) or "").strip()
    return PublishedValue(text) if text else None


def _average_flags(row: dict[str, str], metric: str, computed: float | None) -> list[str]:
    published = _value(row, f"avg_{metric}")
    dims = [_value(row, f"{d}_{metric}") for d in DIMENSIONS]
    if published is None or computed is None or any(v is None for v in dims):
        return []
    tolerance = published.half_unit + max(v.half_unit for v in dims)
    if abs(published.value - computed) <= tolerance + 1e-9:
        return []
    flag = (
        f"{_AVERAGE_FLAG.format(metric=metric)}{published.text} is not the mean of its five dimensions "
        f"({computed:.2f}); the published value is kept"
    )
    equal = [d for d, v in zip(DIMENSIONS, dims, strict=True) if v.value == published.value]
    if equal:
        flag += f"; it equals the {equal[0]} entry"
    return [flag]


def average_flagged(entry: Entry, metric: str) -> bool:
    """Whether the entry's published ``metric`` average was flagged as not the mean of its dimensions."""
    prefix = _AVERAGE_FLAG.format(metric=metric)
    return any(flag.startswith(prefix) for flag in entry.flags)


def _auroracap_flags(row: dict[str, str], sweep: list[RatioSweepPoint]) -> list[str]:
    flags = []
    matches = {}
    for dim in DIMENSIONS:
        value = _value(row, f"{dim}_acc")
        if value is None:
            continue
        hits = [p.ratio for p in sweep if abs(p.acc[dim] - value.value) <= value.half_unit + 1e-9]
        if hits:
            matches[dim] = hits
    if len(matches) >= 2 and len({tuple(h) for h in matches.values()}) > 1:
        common = set.intersection(*(set(h) for h in matches.values()))
        if not common:
            detail = ", ".join(f"{d} = rho {'/'.join(f'{r:g}' for r in h)}" for d, h in matches.items())
            flags.append(
                "per-dimension accuracies match different token_kept_ratio settings of the published sweep "
                f"({detail}): a best-of-ratios row, not one configuration"
            )
    tpf = _value(row, "tokens_per_frame")
    if tpf is not None and int(tpf.value) not in reachable_tokens_per_frame():
        flags.append(
            f"tokens_per_frame {tpf.text} is nominal: 729 - 31*floor(729(1-rho)/32) never gives it; the lmms-eval "
            f"wrapper default is {WRAPPER_FRAMES} frames x {tokens_per_frame(WRAPPER_RATIO)} tokens (rho {WRAPPER_RATIO})"
        )
    return flags


def published_entries(
    path: Path = LEADERBOARD_CSV, sweep: list[RatioSweepPoint] | None = None
) -> list[Entry]:
    """One entry per published row, in the CSV's order, with consistency flags."""
    sweep = load_ratio_sweep() if sweep is None else sweep
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    entries = []
    for row in rows:
        dims = {}
        for d in DIMENSIONS:
            acc, score = _value(row, f"{d}_acc"), _value(row, f"{d}_score")
            dims[d] = Score(acc=acc.value if acc else None, score=score.value if score else None)
        avg_acc, avg_score = _value(row, "avg_acc"), _value(row, "avg_score")
        computed = mean_of_dimensions(dims)
        flags = []
        if computed is None:
            flags.append("only the average is published; no per-dimension numbers")
        else:
            flags += _average_flags(row, "acc", computed.acc)
            flags += _average_flags(row, "score", computed.score)
        if row["model"].startswith("AuroraCap"):
            flags += _auroracap_flags(row, sweep)
        frames, tpf = _value(row, "frames"), _value(row, "tokens_per_frame")
        entries.append(
            Entry(
                id=f"published:{row['model']}",
                model=row["model"],
                kind="published",
                frames=int(frames.value) if frames else None,
                tokens_per_frame=tpf.value if tpf else None,
                tokens_per_frame_kind="nominal",
                judge_model=PUBLISHED_JUDGE,
                protocol=PUBLISHED_PROTOCOL,
                dimensions=dims,
                average=Score(acc=avg_acc.value if avg_acc else None, score=avg_score.value if avg_score else None),
                computed_average=computed,
                source=f"{row['source']}; copied from vdc_published_leaderboard.csv",
                date=PUBLISHED_DATE,
                flags=flags,
            )
        )
    return entries
