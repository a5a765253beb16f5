"""What scoring captions would cost before any call is made (``vdc-bench score --dry-run``).

Each QA of a caption that did not fail takes an answer call (the caption and the question) and a verdict
call (question, reference answer, the answer). Identical requests are sent once. An answer call already in
the verdict cache costs nothing, and neither does its verdict call when that is cached too; a verdict call
whose answer is not known yet counts once per distinct answer call, its length estimated with the reference
answer in the answer's place. Tokens are estimated
at 4 characters a token (the judge's own tokenizer differs; the run records what the server reports), and
completions at most ``max_tokens`` each. Re-asks after unparsable replies are not included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vdc_bench.scoring.caption_records import CaptionItem
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import Protocol
from vdc_bench.scoring.scorer import MAX_CAPTION_CHARS, answer_parser
from vdc_bench.scoring.verdict_cache import VerdictCache, request_key

CHARS_PER_TOKEN = 4


def _chars(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages)


def estimate_cost(items: Sequence[CaptionItem], settings: JudgeSettings, protocol: Protocol,
                  cache: VerdictCache) -> dict[str, Any]:
    protocol_id = f"{protocol.name}:{protocol.prompt_sha256}"
    parse = answer_parser(protocol)
    sampling = settings.sampling()

    def key(messages: list[dict[str, str]], call: str) -> str:
        return request_key(settings.model, protocol_id, messages, sampling, protocol.response_format(call))

    to_send: dict[str, int] = {}  # request key -> prompt characters
    cached: set[str] = set()
    qas = 0
    for item in items:
        if item.failed:
            continue
        for qa in item.qa:
            qas += 1
            call1 = protocol.answer_messages(item.caption[:MAX_CAPTION_CHARS], qa.question)
            k1 = key(call1, "call1")
            reply = cache.get(k1)
            answer = parse(reply) if reply is not None else None
            if reply is not None:
                cached.add(k1)
            else:
                to_send[k1] = _chars(call1)
            call2 = protocol.verdict_messages(qa.question, qa.answer, answer if answer is not None else qa.answer)
            if answer is None:  # one verdict per distinct answer call: unknown answers are assumed to differ
                to_send.setdefault(f"{k1}/call2", _chars(call2))
                continue
            k2 = key(call2, "call2")
            if cache.get(k2) is not None:
                cached.add(k2)
            else:
                to_send.setdefault(k2, _chars(call2))
    calls = len(to_send)
    return {
        "captions": sum(1 for i in items if not i.failed),
        "failed_captions": sum(1 for i in items if i.failed),
        "qas": qas,
        "calls_to_send": calls,
        "calls_cached": len(cached),
        "prompt_tokens_estimate": sum(to_send.values()) // CHARS_PER_TOKEN,
        "completion_tokens_max": calls * settings.max_tokens,
        "model": settings.model,
    }
