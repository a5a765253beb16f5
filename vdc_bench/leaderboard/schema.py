"""Leaderboard entry schema (``results/leaderboard.json``) and its validation.

File layout::

    {"schema_version": 1,
     "entries": [ <entry>, ... ]}

Entry (all keys required; ``null`` where the value is unknown):

=====================  =======================================================================================
``id``                 unique key, e.g. ``published:AuroraCap-7B`` or ``run:<run dir>:<ratio>``
``model``              display name
``kind``               ``published`` (copied from a cited source), ``demo`` (our demo pipeline, tiny random
                       model: not a real result) or ``run`` (our own evaluation)
``frames``             frames per video (int) or null
``tokens_per_frame``   visual tokens per frame (number) or null
``tokens_per_frame_kind``  ``nominal`` (as claimed by the source) or ``measured`` (from our per-sample stats)
``judge_model``        the judge LLM that produced the verdicts
``protocol``           VDCscore protocol name (and hash for our runs)
``dimensions``         ``{camera, short, background, main_object, detailed}`` -> ``{"acc", "score"}``;
                       acc in 0..100, score in 0..5, null if not given; may carry ``acc_ci``/``score_ci``
                       (``[low, high]``) and ``n`` (videos)
``average``            ``{"acc", "score"}``: the reported average (published rows: as published)
``computed_average``   ``{"acc", "score"}``: mean of the five dimensions, null where a dimension is missing
``flags``              list of strings: inconsistencies and caveats found when the entry was made
``source``             where the numbers come from (citation, or the results file of our run)
``date``               ``YYYY-MM-DD``
``run_config``         our runs: model args, ratio, tasks, limit, versions, ...; published rows: null
``note``               free text shown next to the model (e.g. ``demo, tiny random model``)
=====================  =======================================================================================
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.errors import VdcBenchError

SCHEMA_VERSION = 1

KINDS = ("published", "demo", "run")
TOKENS_PER_FRAME_KINDS = ("nominal", "measured")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ENTRY_KEYS = (
    "id", "model", "kind", "frames", "tokens_per_frame", "tokens_per_frame_kind", "judge_model", "protocol",
    "dimensions", "average", "computed_average", "flags", "source", "date", "run_config", "note",
)


class LeaderboardSchemaError(VdcBenchError):
    """A leaderboard entry or file does not match the schema; the message names the field."""


@dataclass
class Score:
    """Accuracy (0..100) and score (0..5) of one dimension or of the average, with optional CIs."""

    acc: float | None
    score: float | None
    acc_ci: list[float] | None = None
    score_ci: list[float] | None = None
    n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("acc", "score")}


@dataclass
class Entry:
    id: str
    model: str
    kind: str
    frames: int | None
    tokens_per_frame: float | None
    tokens_per_frame_kind: str
    judge_model: str
    protocol: str
    dimensions: dict[str, Score]
    average: Score
    computed_average: Score | None
    source: str
    date: str
    flags: list[str] = field(default_factory=list)
    run_config: dict[str, Any] | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in ENTRY_KEYS}
        out["dimensions"] = {d: self.dimensions[d].to_dict() for d in DIMENSIONS}
        out["average"] = self.average.to_dict()
        out["computed_average"] = self.computed_average.to_dict() if self.computed_average else None
        return out


def mean_of_dimensions(dimensions: dict[str, Score]) -> Score | None:
    """Unweighted mean over the five dimensions (the VDCscore average); None if any is missing."""
    accs = [dimensions[d].acc for d in DIMENSIONS]
    scores = [dimensions[d].score for d in DIMENSIONS]
    # Rounded to 4 decimals: published inputs have at most 3, and floating-point noise only clutters the file.
    acc = round(sum(accs) / len(accs), 4) if all(a is not None for a in accs) else None
    score = round(sum(scores) / len(scores), 4) if all(s is not None for s in scores) else None
    if acc is None and score is None:
        return None
    return Score(acc=acc, score=score)


# --- validation -------------------------------------------------------------------------------------------


def _fail(where: str, field_name: str, message: str) -> LeaderboardSchemaError:
    return LeaderboardSchemaError(f"{where}: field '{field_name}' {message}")


def _number(value: Any, where: str, name: str, low: float, high: float, allow_null: bool = True) -> float | None:
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise _fail(where, name, f"must be in [{low}, {high}], got {value!r}")
    return float(value)


def _string(value: Any, where: str, name: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, name, f"must be a non-empty string, got {value!r}")
    if choices and value not in choices:
        raise _fail(where, name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _interval(value: Any, where: str, name: str, high: float) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(where, name, f"must be [low, high], got {value!r}")
    low_v = _number(value[0], where, f"{name}[0]", 0.0, high, allow_null=False)
    high_v = _number(value[1], where, f"{name}[1]", 0.0, high, allow_null=False)
    if low_v > high_v:
        raise _fail(where, name, f"low {low_v} is above high {high_v}")
    return [low_v, high_v]


def score_from_dict(value: Any, where: str, name: str) -> Score:
    if not isinstance(value, dict):
        raise _fail(where, name, f"must be an object with 'acc' and 'score', got {value!r}")
    unknown = sorted(set(value) - {"acc", "score", "acc_ci", "score_ci", "n"})
    if unknown:
        raise _fail(where, f"{name}.{unknown[0]}", "is not part of the schema")
    for key in ("acc", "score"):
        if key not in value:
            raise _fail(where, f"{name}.{key}", "is missing")
    n = value.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise _fail(where, f"{name}.n", f"must be a non-negative integer, got {n!r}")
    return Score(
        acc=_number(value["acc"], where, f"{name}.acc", 0.0, 100.0),
        score=_number(value["score"], where, f"{name}.score", 0.0, 5.0),
        acc_ci=_interval(value.get("acc_ci"), where, f"{name}.acc_ci", 100.0),
        score_ci=_interval(value.get("score_ci"), where, f"{name}.score_ci", 5.0),
        n=n,
    )


def entry_from_dict(raw: Any, where: str = "entry") -> Entry:
    """Validate one entry; raises LeaderboardSchemaError naming ``where`` and the offending field."""
    if not isinstance(raw, dict):
        raise LeaderboardSchemaError(f"{where}: must be an object, got {type(raw).__name__}")
    missing = [k for k in ENTRY_KEYS if k not in raw]
    if missing:
        raise _fail(where, missing[0], "is missing")
    unknown = sorted(set(raw) - set(ENTRY_KEYS))
    if unknown:
        raise _fail(where, unknown[0], "is not part of the schema")
    frames = raw["frames"]
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames <= 0):
        raise _fail(where, "frames", f"must be a positive integer or null, got {frames!r}")
    dims = raw["dimensions"]
    if not isinstance(dims, dict):
        raise _fail(where, "dimensions", f"must be an object keyed by {', '.join(DIMENSIONS)}")
    for name in dims:
        if name not in DIMENSIONS:
            raise _fail(where, f"dimensions.{name}", f"is not a VDC dimension ({', '.join(DIMENSIONS)})")
    for name in DIMENSIONS:
        if name not in dims:
            raise _fail(where, f"dimensions.{name}", "is missing")
    flags = raw["flags"]
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise _fail(where, "flags", f"must be a list of strings, got {flags!r}")
    if raw["run_config"] is not None and not isinstance(raw["run_config"], dict):
        raise _fail(where, "run_config", f"must be an object or null, got {raw['run_config']!r}")
    if not isinstance(raw["note"], str):
        raise _fail(where, "note", f"must be a string, got {raw['note']!r}")
    date = _string(raw["date"], where, "date")
    if not _DATE.match(date):
        raise _fail(where, "date", f"must be YYYY-MM-DD, got {date!r}")
    kind = _string(raw["kind"], where, "kind", KINDS)
    entry = Entry(
        id=_string(raw["id"], where, "id"),
        model=_string(raw["model"], where, "model"),
        kind=kind,
        frames=frames,
        tokens_per_frame=_number(raw["tokens_per_frame"], where, "tokens_per_frame", 0.0, 1e6),
        tokens_per_frame_kind=_string(raw["tokens_per_frame_kind"], where, "tokens_per_frame_kind",
                                      TOKENS_PER_FRAME_KINDS),
        judge_model=_string(raw["judge_model"], where, "judge_model"),
        protocol=_string(raw["protocol"], where, "protocol"),
        dimensions={d: score_from_dict(dims[d], where, f"dimensions.{d}") for d in DIMENSIONS},
        average=score_from_dict(raw["average"], where, "average"),
        computed_average=(
            None if raw["computed_average"] is None
            else score_from_dict(raw["computed_average"], where, "computed_average")
        ),
        source=_string(raw["source"], where, "source"),
        date=date,
        flags=list(flags),
        run_config=raw["run_config"],
        note=raw["note"],
    )
    if kind == "demo" and "demo" not in entry.note:
        raise _fail(where, "note", "of a demo entry must say 'demo' (it is not a real result)")
    return entry


def board_from_dict(raw: Any, where: str) -> list[Entry]:
    """Validate a whole leaderboard document; ids must be unique."""
    if not isinstance(raw, dict):
        raise LeaderboardSchemaError(f"{where}: must be an object with 'schema_version' and 'entries'")
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise LeaderboardSchemaError(
            f"{where}: field 'schema_version' must be {SCHEMA_VERSION}, got {raw.get('schema_version')!r}"
        )
    if not isinstance(raw.get("entries"), list):
        raise LeaderboardSchemaError(f"{where}: field 'entries' must be a list")
    entries = [entry_from_dict(e, f"{where}: entries[{i}]") for i, e in enumerate(raw["entries"])]
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.id in seen:
            raise LeaderboardSchemaError(f"{where}: entries[{i}]: field 'id' duplicates {entry.id!r}")
        seen.add(entry.id)
    return entries
