"""VDCscore aggregation as published, plus micro averages, clustered bootstrap CIs and paired comparison.

Published definition (VDCscore, as the reference scorer computes it), per dimension d and video v with QAs Q_v:
    acc_v = |yes| / |Q_v|, score_v = mean score over Q_v
    Acc_d = 100 * mean_v acc_v, Score_d = mean_v score_v  (macro over videos)
    VDCscore = unweighted mean of the dimensions' Acc_d / Score_d.

Failure policy: the headline numbers (``as_zero``) count every non-ok QA (parse_failed, judge_failed,
generation_failed) as "no" with score 0 and keep it in |Q_v|, so no video is ever dropped (the
reference-compatible choice for failed generations: an empty caption scores 0). The ``excluded``
variant drops non-ok QAs from |Q_v| (and videos left with none), like lmms-eval's parse handling.

Confidence intervals: percentile bootstrap over videos (the ~19 QAs of a video are correlated, so QAs
are never resampled independently). One draw of video ids is shared by all dimensions, so the
VDCscore interval accounts for the same video appearing in several dimensions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.scoring.scorer import STATUSES, QAJudgement

DEFAULT_BOOTSTRAP_ITERS = 2000
DEFAULT_BOOTSTRAP_SEED = 0
_CHUNK = 250


@dataclass
class VideoTally:
    """One video's QAs in one dimension. Non-ok QAs add nothing to ``yes``/``score_sum`` (no/0)."""

    n: int = 0  # all QAs (denominator of the as_zero policy)
    n_ok: int = 0  # judged QAs (denominator of the excluded policy)
    yes: int = 0
    score_sum: float = 0.0


def tally_videos(judgements: Iterable[QAJudgement]) -> dict[str, dict[str, VideoTally]]:
    """dimension -> video_id -> tally."""
    out: dict[str, dict[str, VideoTally]] = defaultdict(dict)
    for j in judgements:
        t = out[j.dimension].setdefault(j.video_id, VideoTally())
        t.n += 1
        if j.status == "ok":
            t.n_ok += 1
            t.yes += int(j.pred == "yes")
            t.score_sum += float(j.score or 0.0)
    return out


def _dimension_order(dims: Iterable[str]) -> list[str]:
    dims = set(dims)
    return [d for d in DIMENSIONS if d in dims] + sorted(dims - set(DIMENSIONS))


@dataclass
class _Matrix:
    """Per-video values, shape (videos, dimensions); ``present`` marks which (video, dim) exist."""

    videos: list[str]
    dims: list[str]
    acc: np.ndarray
    score: np.ndarray
    present: np.ndarray


def _matrix(per_dim: dict[str, dict[str, tuple[float, float]]]) -> _Matrix:
    dims = _dimension_order(per_dim)
    videos = sorted({v for d in dims for v in per_dim[d]})
    index = {v: i for i, v in enumerate(videos)}
    acc = np.zeros((len(videos), len(dims)))
    score = np.zeros_like(acc)
    present = np.zeros_like(acc)
    for k, d in enumerate(dims):
        for v, (a, s) in per_dim[d].items():
            acc[index[v], k], score[index[v], k], present[index[v], k] = a, s, 1.0
    return _Matrix(videos, dims, acc, score, present)


def _bootstrap(m: _Matrix, iters: int, seed: int) -> dict[str, np.ndarray]:
    """Bootstrap means: {"acc"/"score": (iters, dims)}; NaN where a draw missed a dimension entirely."""
    rng = np.random.default_rng(seed)
    n = len(m.videos)
    out: dict[str, list[np.ndarray]] = {"acc": [], "score": []}
    done = 0
    while done < iters:
        b = min(_CHUNK, iters - done)
        draws = rng.integers(0, n, size=(b, n))
        weights = np.bincount((np.arange(b)[:, None] * n + draws).ravel(), minlength=b * n).reshape(b, n)
        weights = weights.astype(float)
        den = weights @ m.present
        with np.errstate(invalid="ignore", divide="ignore"):
            out["acc"].append((weights @ (m.acc * m.present)) / den)
            out["score"].append((weights @ (m.score * m.present)) / den)
        done += b
    return {k: np.concatenate(v) for k, v in out.items()}


def _ci(samples: np.ndarray, scale: float = 1.0) -> list[float] | None:
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return None
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [float(scale * lo), float(scale * hi)]


def _se(samples: np.ndarray, scale: float = 1.0) -> float | None:
    """Bootstrap standard error: the spread of the bootstrap means (what lmms-eval reports as ``*_stderr``)."""
    samples = samples[~np.isnan(samples)]
    return float(scale * samples.std(ddof=1)) if samples.size > 1 else None


def _macro(per_dim: dict[str, dict[str, tuple[float, float]]], iters: int, seed: int) -> dict[str, Any]:
    """Macro means per dimension and overall, with CIs. Values: acc in 0..100, score in 0..5."""
    m = _matrix(per_dim)
    out: dict[str, Any] = {"dimensions": {}, "overall": None}
    if not m.dims:
        return out
    boot = _bootstrap(m, iters, seed) if iters > 0 and len(m.videos) > 1 else None
    for k, d in enumerate(m.dims):
        mask = m.present[:, k] > 0
        out["dimensions"][d] = {
            "n_videos": int(mask.sum()),
            "acc": float(100.0 * m.acc[mask, k].mean()),
            "score": float(m.score[mask, k].mean()),
            "acc_ci95": _ci(boot["acc"][:, k], 100.0) if boot else None,
            "score_ci95": _ci(boot["score"][:, k]) if boot else None,
            "acc_stderr": _se(boot["acc"][:, k], 100.0) if boot else None,
            "score_stderr": _se(boot["score"][:, k]) if boot else None,
        }
    dims = out["dimensions"]
    out["overall"] = {
        "n_dimensions": len(dims),
        "acc": float(np.mean([v["acc"] for v in dims.values()])),
        "score": float(np.mean([v["score"] for v in dims.values()])),
        "acc_ci95": _ci(boot["acc"].mean(axis=1), 100.0) if boot else None,
        "score_ci95": _ci(boot["score"].mean(axis=1)) if boot else None,
        "acc_stderr": _se(boot["acc"].mean(axis=1), 100.0) if boot else None,
        "score_stderr": _se(boot["score"].mean(axis=1)) if boot else None,
    }
    return out


def summarize(
    judgements: Sequence[QAJudgement],
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """The ``scores`` block of the scores JSON (schema in EVAL.md, section Reference)."""
    tallies = tally_videos(judgements)
    as_zero = {d: {v: (t.yes / t.n, t.score_sum / t.n) for v, t in vids.items()} for d, vids in tallies.items()}
    excluded = {
        d: {v: (t.yes / t.n_ok, t.score_sum / t.n_ok) for v, t in vids.items() if t.n_ok}
        for d, vids in tallies.items()
    }
    headline = _macro(as_zero, bootstrap_iters, seed)
    variant = _macro({d: v for d, v in excluded.items() if v}, bootstrap_iters, seed)
    status_counts: dict[str, dict[str, int]] = {d: dict.fromkeys(STATUSES, 0) for d in tallies}
    reasks: dict[str, int] = dict.fromkeys(tallies, 0)
    for j in judgements:
        status_counts[j.dimension][j.status] += 1
        reasks[j.dimension] += j.reasks
    for d, block in headline["dimensions"].items():
        vids = tallies[d]
        n_qas = sum(t.n for t in vids.values())
        block.update(
            n_qas=n_qas,
            micro_acc=100.0 * sum(t.yes for t in vids.values()) / n_qas,
            micro_score=sum(t.score_sum for t in vids.values()) / n_qas,
            failures={s: c for s, c in status_counts[d].items() if s != "ok"},
            videos_with_failures=sum(1 for t in vids.values() if t.n_ok < t.n),
            reasks=reasks[d],
            excluded_policy=(
                {k: variant["dimensions"][d][k] for k in ("n_videos", "acc", "score", "acc_ci95", "score_ci95")}
                | {"n_qas": sum(t.n_ok for t in vids.values())}
                if d in variant["dimensions"]
                else {"n_videos": 0, "n_qas": 0, "acc": None, "score": None}
            ),
        )
    overall = headline["overall"]
    if overall is not None:
        n_qas = sum(b["n_qas"] for b in headline["dimensions"].values())
        total_yes = sum(t.yes for vids in tallies.values() for t in vids.values())
        total_score = sum(t.score_sum for vids in tallies.values() for t in vids.values())
        overall.update(
            complete=set(headline["dimensions"]) == set(DIMENSIONS),
            n_qas=n_qas,
            micro_acc=100.0 * total_yes / n_qas,
            micro_score=total_score / n_qas,
            failures={
                s: sum(c[s] for c in status_counts.values()) for s in STATUSES if s != "ok"
            },
            excluded_policy={"acc": (variant["overall"] or {}).get("acc"), "score": (variant["overall"] or {}).get("score")},
        )
    return {
        "failure_policy": "as_zero",
        "bootstrap": {"iters": bootstrap_iters, "seed": seed, "cluster": "video_id", "ci": "percentile 95%"},
        "dimensions": headline["dimensions"],
        "vdcscore": overall,
    }


def compare_paired(
    a: Sequence[QAJudgement],
    b: Sequence[QAJudgement],
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Run A minus run B on the (dimension, video) pairs both runs scored, with clustered CIs."""
    ta, tb = tally_videos(a), tally_videos(b)
    diffs: dict[str, dict[str, tuple[float, float]]] = {}
    coverage: dict[str, dict[str, int]] = {}
    for d in set(ta) | set(tb):
        va, vb = ta.get(d, {}), tb.get(d, {})
        common = set(va) & set(vb)
        coverage[d] = {"common": len(common), "only_a": len(set(va) - common), "only_b": len(set(vb) - common)}
        if common:
            diffs[d] = {
                v: (va[v].yes / va[v].n - vb[v].yes / vb[v].n, va[v].score_sum / va[v].n - vb[v].score_sum / vb[v].n)
                for v in common
            }
    result = _macro(diffs, bootstrap_iters, seed)
    for d, block in result["dimensions"].items():
        block.update(coverage[d])
    return {
        "difference": "A - B (macro over the videos both runs scored; failures as no/0)",
        "bootstrap": {"iters": bootstrap_iters, "seed": seed, "cluster": "video_id", "ci": "percentile 95%"},
        "dimensions": result["dimensions"],
        "vdcscore": result["overall"],
        "uncovered": {d: c for d, c in coverage.items() if d not in result["dimensions"]},
    }
