"""The records passed between stages, each defined once: producers write and consumers read these types.

* ``SampleRecord`` (``vdc-bench.sample/1``): one caption of one video for one dimension, written by the
  VDC task's ``process_results`` into lmms-eval's samples files under the key ``vdc_acc``; read by
  scoring, efficiency and run summaries. ``stats`` is what the model adapter measured (``SampleStats``).
* ``ScoresDocument`` (``vdc-bench.scores/1``): a VDCscore result, ``vdcscore_scores.json``; read by run
  summaries, the leaderboard and reports.
* ``SweepDocument`` (``vdc-bench.sweep/1``): a sweep's ``sweep.json``, one ``RunSummary`` per setting
  (also saved alone as each setting's ``summary.json``, with every task's lmms-eval metrics in
  ``task_metrics``) and the relative-performance curve over the paper's metrics; read by reports and the
  leaderboard.

``from_dict`` checks every field's type and raises ``VdcBenchError`` naming where (``file:line`` for a
JSONL line, the file otherwise) and the field; ``to_dict`` gives the JSON form. Files written before the
``schema`` field existed are read as version 1. Keys a record does not know are kept in ``extra`` where
the record has one (documents grow within a version) and ignored otherwise. docs/records.md lists the
fields.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from vdc_bench.errors import VdcBenchError

SAMPLE_SCHEMA = "vdc-bench.sample/1"
SCORES_SCHEMA = "vdc-bench.scores/1"
SWEEP_SCHEMA = "vdc-bench.sweep/1"
RUN_SUMMARY_SCHEMA = "vdc-bench.run-summary/1"
RECORD_KEY = "vdc_acc"  # the samples-file key holding a SampleRecord (``vdc_score`` holds the same record)
# The five VDC caption dimensions, in the order the published tables list them.
DIMENSIONS: tuple[str, ...] = ("camera", "short", "background", "main_object", "detailed")

R = TypeVar("R")

# --- typed reading of JSON values ----------------------------------------------------------------------------

_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the string {value[:60]!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return "an object" if isinstance(value, Mapping) else "a list" if isinstance(value, list) else type(value).__name__


def _bad(where: str, label: str, expected: str, value: Any) -> VdcBenchError:
    return VdcBenchError(f"{where}: field {label!r} must be {expected}, got {_shown(value)}")


def _convert(value: Any, hint: Any, where: str, label: str) -> Any:
    """``value`` checked against the type ``hint`` (None allowed only where the hint says so)."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where, label)  # records use X | None only
    if dataclasses.is_dataclass(hint):
        return _from_dict(hint, value, where, f"{label}.")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _bad(where, label, "a list", value)
        items = [_convert(v, args[0], where, f"{label}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise _bad(where, label, "an object", value)
        value_hint = args[1] if args else Any
        return {k: _convert(v, value_hint, where, f"{label}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(where, label, "a number", value)
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise _bad(where, label, _NAMES.get(hint, hint.__name__), value)
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_dict(cls: type[R], raw: Any, where: str, prefix: str = "") -> R:
    """An instance of the dataclass ``cls`` from a JSON object: fields without a default are required."""
    if not isinstance(raw, Mapping):
        if prefix:
            raise _bad(where, prefix.rstrip("."), "a JSON object", raw)
        raise VdcBenchError(f"{where}: the record must be a JSON object, got {_shown(raw)}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    names = set()
    for f in dataclasses.fields(cls):
        names.add(f.name)
        if f.name == "extra":
            continue
        if f.name not in raw:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            if type(None) not in typing.get_args(hints[f.name]):
                raise VdcBenchError(f"{where}: missing field {prefix + f.name!r}")
            values[f.name] = None  # a required field that may be null: absent means null
            continue
        values[f.name] = _convert(raw[f.name], hints[f.name], where, f"{prefix}{f.name}")
    if "extra" in names:
        values["extra"] = {k: v for k, v in raw.items() if k not in names}
    return cls(**values)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _to_dict(record: Any, omit_none: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name == "extra":
            out.update(value)
        elif not (omit_none and value is None):
            out[f.name] = _plain(value)
    return out


def _check_schema(raw: Mapping[str, Any], expected: str, where: str, required: bool = False) -> None:
    """Version check; unless ``required``, a missing ``schema`` is version 1 (written before the field existed)."""
    got = raw.get("schema", None if required else expected)
    if got != expected:
        raise VdcBenchError(f"{where}: field 'schema' must be {expected!r}, got {_shown(got)}")


def _check_dimension(name: str, where: str, label: str) -> None:
    if name not in DIMENSIONS:
        raise VdcBenchError(f"{where}: field {label!r} is {name[:60]!r}, not a VDC dimension ({', '.join(DIMENSIONS)})")


def read_json_file(path: Path) -> Any:
    """A JSON file's content; unreadable or malformed files are one clear error naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise VdcBenchError(f"{path}: cannot read ({err.strerror or err})") from err
    except UnicodeDecodeError as err:
        raise VdcBenchError(f"{path}: not UTF-8 text") from err
    except json.JSONDecodeError as err:
        raise VdcBenchError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from err


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """The JSON form, nested records included."""
        return _to_dict(self)


# --- the per-sample record -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QAPair(_Record):
    question: str
    answer: str
    category: str = ""


@dataclass(frozen=True, kw_only=True)
class SampleStats(_Record):
    """What the model adapter measured for one request (``vdc_bench.sample_stats``); every field optional.

    Times are of this request: ``decode_s`` video decode, ``preprocess_s`` CLIP preprocessing and
    tokenising, ``vit_ms`` vision encoder, ``ttft_ms`` ViT + prefill, ``gen_s`` the LLM's generate call.
    ``dtype``, ``device``, ``decode``, ``processes`` and ``batch_size`` say how the caption was computed
    (fp16 greedy tokens can depend on them). ``token_kept_ratio`` and ``random_weights`` are settings,
    recorded for failed requests too. ``cached``: the caption came from the caption cache of a run that was
    killed and resumed; its times were measured by the process that generated it. Other adapters' keys stay
    in ``extra``.
    """

    frames: int | None = None
    frame_indices: list[int] | None = None
    total_frames: list[int | None] | None = None
    frame_count_source: list[str] | None = None
    frames_in_header: list[int | None] | None = None  # per visual: the count its header gave (> decoded: cut short)
    video_damaged: bool | None = None  # captioned from the frames of a truncated/corrupt file that decode
    visual_tokens_per_frame: list[int] | None = None
    visual_tokens: int | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    truncated: bool | None = None  # output hit max_new_tokens
    token_kept_ratio: float | None = None  # the ratio the adapter ran with
    random_weights: bool | None = None  # the checkpoint carries the random-weights marker: never a real result
    batch_size: int | None = None
    processes: int | None = None
    dtype: str | None = None
    device: str | None = None
    decode: str | None = None
    decode_s: float | None = None
    preprocess_s: float | None = None
    vit_ms: float | None = None
    ttft_ms: float | None = None
    prefill_ms: float | None = None
    gen_s: float | None = None
    decode_tok_per_s: float | None = None
    peak_mem_mb: float | None = None
    error: str | None = None  # why the request failed
    cached: bool | None = None  # read from the caption cache, not generated by this run
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class SampleRecord(_Record):
    """One caption with everything scoring and reports need (the samples file never holds the doc)."""

    schema: str = SAMPLE_SCHEMA
    video_id: str
    dimension: str
    sample_key: str | None = None  # "<dimension>/<video_id>"
    prompt: str | None = None
    prompt_index: int | None = None
    prompt_seed: int | None = None
    prompt_mode: str | None = None
    qa: tuple[QAPair, ...]
    caption: str
    reference_caption: str | None = None
    failed: bool = False  # caption generation failed (the caption is "" or the backend's failure placeholder)
    error: str | None = None
    stats: SampleStats = field(default_factory=SampleStats)
    data: dict[str, Any] | None = None  # the data root's summary (layout, counts of defects)

    @property
    def key(self) -> str:
        return self.sample_key or f"{self.dimension}/{self.video_id}"

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> SampleRecord:
        """``qa`` may also be a JSON string (as VDC docs carry it)."""
        if isinstance(raw, Mapping):
            _check_schema(raw, SAMPLE_SCHEMA, where)
            if isinstance(raw.get("qa"), str):
                try:
                    raw = {**raw, "qa": json.loads(raw["qa"]) if raw["qa"].strip() else []}
                except json.JSONDecodeError as err:
                    raise VdcBenchError(f"{where}: field 'qa' is not valid JSON ({err})") from err
        record = _from_dict(cls, raw, where)
        if not record.video_id:
            raise VdcBenchError(f"{where}: missing field 'video_id'")
        try:
            record.caption.encode("utf-8")  # JSON can spell a lone surrogate (\ud800); no judge or file can take it
        except UnicodeEncodeError as err:
            raise VdcBenchError(
                f"{where}: field 'caption' is not valid text (lone surrogate at character {err.start})"
            ) from err
        _check_dimension(record.dimension, where, "dimension")
        return record


def sample_record_of_line(line: Mapping[str, Any], where: str) -> SampleRecord | None:
    """The VDC record of one lmms-eval samples line (None for other tasks' lines, which have none)."""
    raw = line.get(RECORD_KEY)
    return None if raw is None else SampleRecord.from_dict(raw, where)


# --- the scores document -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProtocolInfo(_Record):
    name: str
    prompt_sha256: str | None = None
    constrained_json: bool | None = None
    same_prompts_as_published: bool | None = None
    comparable_with_published: bool | None = None  # the published prompts AND the published judge
    prompts_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class JudgeInfo(_Record):
    """The judge as a result may record it: never an API key, only the host of its URL."""

    model: str
    base_url_host: str | None = None  # comma-separated where the judge had several endpoints
    source: str | None = None
    description: str | None = None
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    concurrency: int | None = None
    timeout_s: float | None = None
    max_attempts: int | None = None
    reasks: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class _ScoreBlock(_Record):
    """acc x100 and score 0-5, macro over videos; failed QAs count as no/0."""

    acc: float | None
    score: float | None
    acc_ci95: list[float] | None = None
    score_ci95: list[float] | None = None
    n_qas: int | None = None
    micro_acc: float | None = None
    micro_score: float | None = None
    acc_stderr: float | None = None  # bootstrap standard error (what lmms-eval reports as ``*_stderr``)
    score_stderr: float | None = None
    failures: dict[str, int] = field(default_factory=dict)  # status -> QAs
    excluded_policy: dict[str, Any] | None = None  # the same numbers with failed QAs left out
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DimensionScores(_ScoreBlock):
    n_videos: int
    videos_with_failures: int | None = None
    reasks: int | None = None


@dataclass(frozen=True, kw_only=True)
class OverallScores(_ScoreBlock):
    """VDCscore: the unweighted mean of the dimensions (``complete`` when all five were scored)."""

    n_dimensions: int
    complete: bool | None = None


@dataclass(kw_only=True)
class JudgeCalls(_Record):
    """Judge requests of one scoring run; the judge client counts into it as it goes (not frozen)."""

    cache_hits: int = 0
    http_attempts: int = 0
    retries: int = 0
    succeeded: int = 0
    failed: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    shared_in_flight: int = 0  # identical requests answered by one already in flight
    prompt_tokens: int = 0  # as the judge server reported them
    completion_tokens: int = 0
    endpoint_attempts: dict[str, int] = field(default_factory=dict)  # endpoint host -> HTTP attempts
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, its counters by name (they are counted in the order events happened)."""
        out = _to_dict(self)
        for name in ("retry_reasons", "endpoint_attempts"):
            out[name] = dict(sorted(out[name].items()))
        return out


# QA statuses that mean the judge gave no usable verdict (a failed caption is the model's failure, not this).
JUDGING_FAILED = ("judge_failed", "parse_failed")


@dataclass(frozen=True, kw_only=True)
class Judging(_Record):
    """QAs without a verdict: while ``failed`` > 0 the document's numbers are not a VDCscore."""

    qas: int
    failed: int
    judge_failed: int = 0
    parse_failed: int = 0

    def failure(self) -> str | None:
        """One line saying why the numbers are not a VDCscore, else None."""
        if not self.failed:
            return None
        kinds = ", ".join(f"{getattr(self, s)} {s}" for s in JUDGING_FAILED if getattr(self, s))
        return (f"judging failed for {self.failed} of {self.qas} QAs ({kinds}): not a VDCscore; "
                "fix the judge and score again (verdicts already judged come from the cache)")


def _check_dimension_keys(dims: Mapping[str, Any], where: str) -> None:
    for name in dims:
        _check_dimension(name, where, f"dimensions.{name}")


@dataclass(frozen=True, kw_only=True)
class ScoresDocument(_Record):
    schema: str = SCORES_SCHEMA
    created_utc: str
    protocol: ProtocolInfo
    judge: JudgeInfo
    versions: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)  # captions, videos, QAs, defects by dimension
    calls: JudgeCalls | None = None  # None in the combined file written at lmms-eval aggregation
    elapsed_s: float | None = None
    judging: Judging | None = None  # None only in files written before it existed
    failure_policy: str = "as_zero"
    bootstrap: dict[str, Any] = field(default_factory=dict)
    dimensions: dict[str, DimensionScores]
    vdcscore: OverallScores | None  # None: no QA was scored
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> ScoresDocument:
        if isinstance(raw, Mapping):
            _check_schema(raw, SCORES_SCHEMA, where)
        doc = _from_dict(cls, raw, where)
        _check_dimension_keys(doc.dimensions, where)
        return doc

    @classmethod
    def load(cls, path: Path) -> ScoresDocument:
        return cls.from_dict(read_json_file(path), str(path))

    def judging_failure(self) -> str | None:
        """Why these numbers are not a VDCscore (QAs the judge did not judge), else None."""
        return self.judging.failure() if self.judging else None


# --- run summaries and the sweep document --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Efficiency(_Record):
    """One run's efficiency, aggregated from the samples' stats (runs/efficiency.py); None: not measured."""

    captions: int  # requests with stats (failed ones included)
    videos: int
    failed: int
    frames_per_video: float | None = None
    visual_tokens_per_frame: float | None = None  # mean over requests of (visual tokens / frames)
    visual_tokens_per_video: float | None = None  # mean visual tokens of one request
    prompt_tokens: float | None = None
    output_tokens: float | None = None
    truncated: int = 0  # outputs that hit max_new_tokens
    seconds_per_caption: float | None = None  # video decode + preprocessing + ViT + generation of one request
    seconds_per_video: float | None = None  # sum over the video's captions, mean over videos
    video_decode_s: float | None = None
    vit_ms: float | None = None
    ttft_ms: float | None = None
    decode_tok_per_s: float | None = None
    peak_mem_mb: float | None = None  # max over requests
    cached: int = 0  # captions read from the caption cache: their times are those of the earlier process


@dataclass(frozen=True, kw_only=True)
class RunScores(_Record):
    """The score part of a ScoresDocument that a run summary keeps."""

    dimensions: dict[str, DimensionScores] = field(default_factory=dict)
    vdcscore: OverallScores | None = None


@dataclass(frozen=True, kw_only=True)
class JudgeUsage(_Record):
    calls: int = 0
    cache_hits: int = 0
    failed: int = 0
    retries: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0  # as the judge server reported them
    completion_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class CaptionFailure(_Record):
    sample_key: str
    error: str


@dataclass(frozen=True, kw_only=True)
class MetricValue(_Record):
    """One metric of one task as lmms-eval's results file gives it (``stderr`` None where it gives "N/A")."""

    value: float
    stderr: float | None = None


@dataclass(frozen=True, kw_only=True)
class TaskMetrics(_Record):
    """Every numeric metric lmms-eval reported for one task or group, keyed ``metric`` (filter ``none``) or
    ``metric,filter``; ``samples`` is lmms-eval's effective sample count (None for groups)."""

    metrics: dict[str, MetricValue] = field(default_factory=dict)
    samples: int | None = None


@dataclass(kw_only=True)
class RunSummary(_Record):
    """One evaluated setting, from its saved files alone (runs/run_summary.py builds it)."""

    schema: str = RUN_SUMMARY_SCHEMA
    label: str
    kind: str  # "run" | "demo"
    model: str
    model_args: str
    token_kept_ratio: float | None  # as the adapter recorded it per sample (None: the model records none)
    tasks: list[str]
    date: str  # YYYY-MM-DD (UTC) of the lmms-eval run
    results_path: str
    scores_path: str | None
    audit_path: str | None
    scores: RunScores | None
    judge: JudgeInfo | None
    protocol: ProtocolInfo | None
    judge_usage: JudgeUsage | None
    efficiency: Efficiency
    failures: list[CaptionFailure] = field(default_factory=list)  # failed captions
    config: dict[str, Any] = field(default_factory=dict)  # lmms-eval config subset
    versions: dict[str, str] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)  # how the captions were computed
    damaged_videos: list[str] = field(default_factory=list)  # sample keys captioned from a truncated/corrupt file
    random_weights: bool = False  # a sample's checkpoint carries the random-weights marker: never a real result
    judging_failure: str | None = None  # set: QAs the judge did not judge, the numbers are not a VDCscore
    task_metrics: dict[str, TaskMetrics] = field(default_factory=dict)  # task/group -> lmms-eval's metrics
    # lmms-eval's throughput block (numbers only): the adapter's run-wide means over all tasks' requests, e.g.
    # avg_visual_tokens_per_frame; the only token measurement for tasks whose samples carry no stats
    throughput: dict[str, float] = field(default_factory=dict)
    # "samples": token_kept_ratio read from the samples' stats; "model_args": no sample records it (no VDC
    # task ran), so it is the ratio the sweep passed; None: not known
    token_kept_ratio_source: str | None = None

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> RunSummary:
        if isinstance(raw, Mapping):
            _check_schema(raw, RUN_SUMMARY_SCHEMA, where)
        summary = _from_dict(cls, raw, where)
        if summary.scores is not None:
            _check_dimension_keys(summary.scores.dimensions, where)
        return summary

    @classmethod
    def load(cls, path: Path) -> RunSummary:
        return cls.from_dict(read_json_file(path), str(path))

    def dimension(self, dim: str) -> DimensionScores | None:
        return self.scores.dimensions.get(dim) if self.scores else None

    def overall(self) -> OverallScores | None:
        return self.scores.vdcscore if self.scores else None

    @property
    def judge_model(self) -> str:
        return self.judge.model if self.judge else "not scored"


@dataclass(frozen=True, kw_only=True)
class PairedDifference(_Record):
    """VDCscore(ratio a) - VDCscore(ratio b) on the videos both scored (scoring.aggregate.compare_paired)."""

    a: float
    b: float
    comparison: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class RelativePoint(_Record):
    """The relative performance at one ratio: mean and population std over metrics of value / own best, in %."""

    ratio: float
    mean: float
    std: float


@dataclass(frozen=True, kw_only=True)
class RelativeCurve(_Record):
    """The paper's "average performance" curve over the paper metrics a sweep ran (``metrics``: their
    published-table column names; ``excluded``: column -> why it could not enter)."""

    metrics: list[str]
    points: list[RelativePoint]
    excluded: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SweepDocument(_Record):
    schema: str = SWEEP_SCHEMA
    created_utc: str
    config: dict[str, Any]  # the sweep's settings (runs.sweep.SweepConfig)
    versions: dict[str, str] = field(default_factory=dict)
    points: list[RunSummary]  # one per ratio, by ratio
    paired: list[PairedDifference] = field(default_factory=list)
    relative: RelativeCurve | None = None  # None: written before it existed, or no paper metric ran

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> SweepDocument:
        if isinstance(raw, Mapping):
            _check_schema(raw, SWEEP_SCHEMA, where, required=True)
        doc = _from_dict(cls, raw, where)
        for i, point in enumerate(doc.points):
            if point.schema != RUN_SUMMARY_SCHEMA:
                raise _bad(where, f"points[{i}].schema", repr(RUN_SUMMARY_SCHEMA), point.schema)
            if point.scores is not None:
                _check_dimension_keys(point.scores.dimensions, where)
        return doc

    @classmethod
    def load(cls, path: Path) -> SweepDocument:
        return cls.from_dict(read_json_file(path), str(path))
