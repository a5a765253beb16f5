"""Judge every reference QA of every caption: call 1 (answer from the caption), call 2 (verdict).

All QAs of all captions go through one bounded pool of workers (``settings.concurrency``), in video
order, so the QAs of one video run back to back and share the server's prefix cache. Work is pulled
from an iterator, so memory stays bounded by the results, not by pending tasks.

QA statuses: ``ok``; ``parse_failed`` (no parsable reply after the bounded re-asks); ``judge_failed``
(HTTP failures after all retries); ``generation_failed`` (the caption itself failed; the judge is not
called). Non-ok QAs count as no/0 in the reference-compatible aggregate (see aggregate.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tqdm import tqdm

from vdc_bench.scoring.batch_files import BatchJudgeClient, BatchRound
from vdc_bench.scoring.caption_records import CaptionItem
from vdc_bench.scoring.judge_client import CallStats, JudgeClient
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import Protocol
from vdc_bench.scoring.reply_parser import MAX_REPLY_CHARS, parse_answer_json, parse_verdict
from vdc_bench.scoring.verdict_cache import VerdictCache

STATUSES = ("ok", "parse_failed", "judge_failed", "generation_failed")
# A caption is cut to this many characters before it reaches the judge (~3k tokens: with the prompt and
# 256 new tokens it fits the embedded judge's 4096-token context). Published VDC captions are ~3k chars;
# a longer one is a runaway generation, judged on its start and flagged (``caption_truncated``).
MAX_CAPTION_CHARS = 12000
T = TypeVar("T")


@dataclass(slots=True)
class QAJudgement:
    dimension: str
    video_id: str
    qa_index: int
    question: str
    answer: str
    category: str
    status: str
    pred: str | None = None  # "yes" | "no" when status == "ok"
    score: float | None = None
    extracted_answer: str | None = None
    raw_call1: list[str] | None = None  # every reply received, re-asks included
    raw_call2: list[str] | None = None
    reasks: int = 0
    error: str | None = None
    caption_truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass
class ScoringOutcome:
    judgements: list[QAJudgement]
    calls: CallStats
    elapsed_s: float


class _Failed(Exception):
    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


async def _ask(
    judge: JudgeClient,
    protocol: Protocol,
    messages: list[dict[str, str]],
    call: str,
    parse: Callable[[str], T | None],
    replies: list[str],
) -> T:
    """One judge call plus at most ``reasks`` follow-ups until ``parse`` accepts the reply."""
    response_format = protocol.response_format(call)
    for _ in range(judge.settings.reasks + 1):
        result = await judge.complete(messages, response_format)
        if result.text is None:
            raise _Failed("judge_failed", f"{call}: {result.error}")
        replies.append(result.text)
        parsed = parse(result.text)
        if parsed is not None:
            return parsed
        # The parser only ever looked at the first MAX_REPLY_CHARS: a runaway reply is not echoed back whole.
        messages = protocol.reask_messages(messages, result.text[:MAX_REPLY_CHARS], call)
    raise _Failed("parse_failed", f"{call}: unparsable reply after {judge.settings.reasks} re-ask(s)")


def answer_parser(protocol: Protocol) -> Callable[[str], str | None]:
    """Call 1's reply -> the answer call 2 is given (None: unparsable, ask again)."""
    return parse_answer_json if protocol.constrained else (lambda text: text[:MAX_REPLY_CHARS])


async def _judge_qa(judge: JudgeClient, protocol: Protocol, item: CaptionItem, index: int) -> QAJudgement:
    qa = item.qa[index]
    out = QAJudgement(item.dimension, item.video_id, index, qa.question, qa.answer, qa.category, "ok")
    if item.failed:
        out.status, out.error = "generation_failed", item.error or "caption generation failed"
        return out
    out.raw_call1, out.raw_call2 = [], []
    try:
        # Free-text call 1 is passed raw (unstripped) into call 2, as the reference does; only a runaway
        # reply is cut (to what the verdict parser would read), so it cannot blow up call 2.
        parse_answer = answer_parser(protocol)
        caption = item.caption[:MAX_CAPTION_CHARS]
        out.caption_truncated = len(caption) < len(item.caption)
        answer = await _ask(
            judge, protocol, protocol.answer_messages(caption, qa.question), "call1", parse_answer, out.raw_call1
        )
        out.extracted_answer = answer
        verdict = await _ask(
            judge, protocol, protocol.verdict_messages(qa.question, qa.answer, answer), "call2", parse_verdict,
            out.raw_call2,
        )
        out.pred, out.score = verdict.pred, verdict.score
    except _Failed as failure:
        out.status, out.error = failure.status, failure.error
    out.reasks = max(0, len(out.raw_call1) - 1) + max(0, len(out.raw_call2) - 1)
    return out


async def judge_items_async(
    items: Sequence[CaptionItem],
    settings: JudgeSettings,
    protocol: Protocol,
    cache: VerdictCache,
    progress: bool = True,
    batch: BatchRound | None = None,
) -> ScoringOutcome:
    """``batch``: judge from the verdict cache and that round's imported replies only, collecting the rest."""
    work: list[tuple[CaptionItem, int]] = [(item, i) for item in items for i in range(len(item.qa))]
    results: list[QAJudgement | None] = [None] * len(work)
    queue: Iterator[int] = iter(range(len(work)))
    started = time.perf_counter()
    bar = tqdm(total=len(work), desc="VDCscore judge", unit="QA", disable=not progress, mininterval=1.0)
    protocol_id = f"{protocol.name}:{protocol.prompt_sha256}"
    client = JudgeClient(settings, cache, protocol_id) if batch is None else BatchJudgeClient(
        settings, cache, protocol_id, batch)
    async with client as judge:

        async def worker() -> None:
            for n in queue:  # shared iterator: each index is taken by exactly one worker
                item, index = work[n]
                results[n] = await _judge_qa(judge, protocol, item, index)
                bar.update(1)

        workers = max(1, min(settings.concurrency, len(work)))
        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            bar.close()
    judgements = [r for r in results if r is not None]
    return ScoringOutcome(judgements, judge.stats, time.perf_counter() - started)


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also from code that is itself inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="vdc-judge")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def judge_items(
    items: Sequence[CaptionItem],
    settings: JudgeSettings,
    protocol: Protocol,
    cache: VerdictCache,
    progress: bool = True,
    batch: BatchRound | None = None,
) -> ScoringOutcome:
    """Synchronous entry point (CLI, lmms-eval aggregation)."""
    return run_coroutine(judge_items_async(items, settings, protocol, cache, progress, batch))
