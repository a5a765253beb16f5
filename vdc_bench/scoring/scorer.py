"""Judge every reference QA of every caption: call 1 (answer from the caption), call 2 (verdict).

Captions are taken in order by a pool of ``settings.concurrency`` workers; within a caption all call 1s
go first, then all call 2s, so requests that share a long prompt prefix reach the server back to back
(see ``_judge_caption``). The judge client's slots bound the requests in flight across workers.

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

from vdc_bench.records import JudgeCalls
from vdc_bench.scoring.batch_files import BatchJudgeClient, BatchRound
from vdc_bench.scoring.caption_records import CaptionItem
from vdc_bench.scoring.judge_client import JudgeClient
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
    calls: JudgeCalls
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


async def _answer(judge: JudgeClient, protocol: Protocol, out: QAJudgement, caption: str) -> str | None:
    """Call 1 for one QA; None (and ``out`` marked failed) when no usable answer came back."""
    try:
        return await _ask(
            judge, protocol, protocol.answer_messages(caption, out.question), "call1", answer_parser(protocol),
            out.raw_call1,
        )
    except _Failed as failure:
        out.status, out.error = failure.status, failure.error
        return None


async def _verdict(judge: JudgeClient, protocol: Protocol, out: QAJudgement, answer: str) -> None:
    """Call 2 for one QA, given call 1's answer."""
    try:
        verdict = await _ask(
            judge, protocol, protocol.verdict_messages(out.question, out.answer, answer), "call2", parse_verdict,
            out.raw_call2,
        )
        out.pred, out.score = verdict.pred, verdict.score
    except _Failed as failure:
        out.status, out.error = failure.status, failure.error


async def _judge_caption(
    judge: JudgeClient, protocol: Protocol, item: CaptionItem, done: Callable[[], None]
) -> list[QAJudgement]:
    """Every QA of one caption: first all call 1s, then all call 2s (``done`` is called once per QA).

    All call 1 prompts of a caption share the system prompt and the caption, and all call 2 prompts their
    system prompt and head, so sent back to back each kind reuses the prefix a server keeps from the
    previous request (llama.cpp keeps only that one); alternating call 1 and call 2 reused almost nothing.
    """
    outs = [
        QAJudgement(item.dimension, item.video_id, i, qa.question, qa.answer, qa.category, "ok")
        for i, qa in enumerate(item.qa)
    ]
    if item.failed:
        for out in outs:
            out.status, out.error = "generation_failed", item.error or "caption generation failed"
            done()
        return outs
    # Free-text call 1 is passed raw (unstripped) into call 2, as the reference does; only a runaway
    # reply is cut (to what the verdict parser would read), so it cannot blow up call 2.
    caption = item.caption[:MAX_CAPTION_CHARS]
    for out in outs:
        out.raw_call1, out.raw_call2 = [], []
        out.caption_truncated = len(caption) < len(item.caption)
    answers = await asyncio.gather(*(_answer(judge, protocol, out, caption) for out in outs))

    async def finish(out: QAJudgement, answer: str | None) -> None:
        if answer is not None:
            out.extracted_answer = answer
            await _verdict(judge, protocol, out, answer)
        out.reasks = max(0, len(out.raw_call1) - 1) + max(0, len(out.raw_call2) - 1)
        done()

    await asyncio.gather(*(finish(out, answer) for out, answer in zip(outs, answers, strict=True)))
    return outs


async def judge_items_async(
    items: Sequence[CaptionItem],
    settings: JudgeSettings,
    protocol: Protocol,
    cache: VerdictCache,
    progress: bool = True,
    batch: BatchRound | None = None,
) -> ScoringOutcome:
    """``batch``: judge from the verdict cache and that round's imported replies only, collecting the rest."""
    results: list[list[QAJudgement]] = [[] for _ in items]
    queue: Iterator[int] = iter(range(len(items)))
    started = time.perf_counter()
    total = sum(len(item.qa) for item in items)
    bar = tqdm(total=total, desc="VDCscore judge", unit="QA", disable=not progress, mininterval=1.0)
    protocol_id = f"{protocol.name}:{protocol.prompt_sha256}"
    client = JudgeClient(settings, cache, protocol_id) if batch is None else BatchJudgeClient(
        settings, cache, protocol_id, batch)
    async with client as judge:

        async def worker() -> None:
            for n in queue:  # shared iterator: each caption is taken by exactly one worker
                results[n] = await _judge_caption(judge, protocol, items[n], lambda: bar.update(1))

        # One worker per request slot; the client's slots bound the requests in flight across workers.
        workers = max(1, min(settings.concurrency, len(items)))
        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            bar.close()
    judgements = [j for per_caption in results for j in per_caption]
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
