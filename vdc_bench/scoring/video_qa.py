"""LLM-judged open-ended video QA (ActivityNet-QA, MSVD-QA, MSRVTT-QA as scored by Video-ChatGPT).

One judge call per QA with the Video-ChatGPT prompt (``protocol/video_qa_judge_prompts.json``): the
judge compares the model's answer with the reference and replies ``{'pred': 'yes'|'no', 'score': 0-5}``.
Accuracy is the share of "yes", score the mean score. Calls go through the judge client (concurrent,
retried, cached by request, so an interrupted run resumes from its verdicts). A QA the judge could not
be asked fails the whole scoring (a silent 0 would be a wrong number); an unparsable reply after the
re-asks counts as "no" with score 0, as lmms-eval's ActivityNet-QA does, and so does a sample the model
failed on (``error`` in its record); both are counted in the summary.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vdc_bench.records import JudgeCalls
from vdc_bench.scoring.judge_client import JudgeClient, JudgeUnusableError
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import fill_slots
from vdc_bench.scoring.reply_parser import MAX_REPLY_CHARS, parse_verdict
from vdc_bench.scoring.scorer import run_coroutine
from vdc_bench.scoring.verdict_cache import VerdictCache

PROTOCOL_FILE = Path(__file__).resolve().parents[1] / "protocol" / "video_qa_judge_prompts.json"
REASK = "Reply with only the Python dictionary string, e.g. {'pred': 'yes', 'score': 4}."


@dataclass(frozen=True)
class VideoQaProtocol:
    name: str
    system: str
    user: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256((self.system + "\0" + self.user).encode("utf-8")).hexdigest()

    @property
    def id(self) -> str:
        return f"{self.name}:{self.sha256}"

    def messages(self, question: str, answer: str, pred: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": fill_slots(self.user, {"question": question, "answer": answer, "pred": pred})}]


def load_video_qa_protocol() -> VideoQaProtocol:
    data = json.loads(PROTOCOL_FILE.read_text(encoding="utf-8"))
    templates = data["templates"]
    for key, digest in data["_sha256"].items():  # the prompts are protocol: an edit must not go unnoticed
        if hashlib.sha256(templates[key].encode("utf-8")).hexdigest() != digest:
            raise JudgeUnusableError(f"{PROTOCOL_FILE}: template {key!r} differs from its recorded sha256")
    return VideoQaProtocol(data["name"], templates["system"], templates["user"])


@dataclass
class QaJudgement:
    question_id: str
    question: str
    answer: str
    prediction: str
    status: str  # ok | parse_failed | judge_failed | generation_failed
    pred: str = "no"
    score: float = 0.0
    replies: list[str] | None = None
    error: str | None = None


async def _judge_one(judge: JudgeClient, protocol: VideoQaProtocol, record: dict[str, Any]) -> QaJudgement:
    out = QaJudgement(str(record["question_id"]), record["question"], str(record["answer"]), record["pred"], "ok", replies=[])
    if record.get("error"):  # the model produced no answer (e.g. unreadable video): wrong, and counted
        out.status, out.error = "generation_failed", record["error"]
        return out
    messages = protocol.messages(out.question, out.answer, out.prediction)
    for _ in range(judge.settings.reasks + 1):
        result = await judge.complete(messages)
        if result.text is None:
            out.status, out.error = "judge_failed", result.error
            return out
        out.replies.append(result.text)
        verdict = parse_verdict(result.text)
        if verdict is not None:
            out.pred, out.score = verdict.pred, verdict.score
            return out
        messages = [*messages, {"role": "assistant", "content": result.text[:MAX_REPLY_CHARS]},
                    {"role": "user", "content": REASK}]
    out.status, out.error = "parse_failed", f"unparsable reply after {judge.settings.reasks} re-ask(s)"
    return out


async def _judge_all(records: Sequence[dict[str, Any]], settings: JudgeSettings, protocol: VideoQaProtocol,
                     cache: VerdictCache) -> tuple[list[QaJudgement], JudgeCalls]:
    async with JudgeClient(settings, cache, protocol.id) as judge:
        slots = asyncio.Semaphore(max(1, settings.concurrency))

        async def bounded(record: dict[str, Any]) -> QaJudgement:
            async with slots:
                return await _judge_one(judge, protocol, record)

        judgements = await asyncio.gather(*(bounded(r) for r in records))
    return list(judgements), judge.stats


def judge_video_qa(records: Sequence[dict[str, Any]], settings: JudgeSettings, cache: VerdictCache) -> dict[str, Any]:
    """Judge ``records`` (``question_id, question, answer, pred``); the result document records the
    protocol, the judge and every verdict. Raises JudgeUnusableError if any QA could not be judged."""
    protocol = load_video_qa_protocol()
    started = time.perf_counter()
    judgements, calls = run_coroutine(_judge_all(records, settings, protocol, cache))
    failed = [j for j in judgements if j.status == "judge_failed"]
    if failed:
        raise JudgeUnusableError(
            f"video QA judge at {settings.public()['base_url_host']} failed on {len(failed)} of {len(judgements)} "
            f"QAs (first: {failed[0].question_id}: {failed[0].error}); the verdicts received are cached, rerun to resume"
        )
    n = len(judgements)
    return {
        "protocol": {"name": protocol.name, "sha256": protocol.sha256, "file": PROTOCOL_FILE.name},
        "judge": settings.public(),
        "summary": {
            "n": n,
            "accuracy": sum(j.pred == "yes" for j in judgements) / n if n else float("nan"),
            "score": sum(j.score for j in judgements) / n if n else float("nan"),
            "parse_failed": sum(j.status == "parse_failed" for j in judgements),
            "generation_failed": sum(j.status == "generation_failed" for j in judgements),
        },
        "calls": calls.to_dict(),
        "elapsed_s": round(time.perf_counter() - started, 3),
        "judgements": [asdict(j) for j in judgements],
    }
