"""Reference captions -> VDCScore QA pairs, with the judge LLM (``vdc-bench make-qa``).

The prompt is our own (``vdc_bench/protocol/qa_generation_prompt.json``; the one behind the published
QA sets is not public), so QA sets made here define a new benchmark version. Output is the VDCScore
QA format: one ``{"<video_id>": [{"question", "answer", "category"}, ...]}`` per line and dimension.
Calls go through the same client, retries and verdict cache as scoring.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vdc_bench.dataset.dimensions import caption_key, check_dimension
from vdc_bench.dataset.jsonl import read_jsonl
from vdc_bench.errors import VdcBenchError
from vdc_bench.records import JudgeCalls
from vdc_bench.scoring.caption_records import QAPair
from vdc_bench.scoring.judge_client import JudgeClient
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import fill_slots
from vdc_bench.scoring.reply_parser import MAX_REPLY_CHARS
from vdc_bench.scoring.scorer import run_coroutine
from vdc_bench.scoring.verdict_cache import VerdictCache

PROMPT_FILE = Path(__file__).resolve().parent.parent / "protocol" / "qa_generation_prompt.json"
# A 20-pair list is ~600 tokens; the scoring default of 256 would cut it off.
DEFAULT_MAX_TOKENS = 1536
_MAX_LIST_CHARS = 4 * MAX_REPLY_CHARS


@dataclass(frozen=True)
class QAPrompt:
    system: str
    user: str
    reask: str
    definitions: dict[str, str]

    @property
    def sha256(self) -> str:
        payload = [self.system, self.user, self.reask, self.definitions]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def messages(self, dimension: str, caption: str, n_questions: int) -> list[dict[str, str]]:
        values = {
            "dimension": dimension.replace("_", " "),
            "definition": self.definitions[dimension],
            "caption": caption,
            "n_questions": str(n_questions),
        }
        return [{"role": "system", "content": self.system}, {"role": "user", "content": fill_slots(self.user, values)}]


@cache
def load_qa_prompt() -> QAPrompt:
    data = json.loads(PROMPT_FILE.read_text(encoding="utf-8"))
    return QAPrompt(data["system"], data["user"], data["reask_user"], dict(data["dimension_definitions"]))


@dataclass(frozen=True)
class CaptionToAsk:
    dimension: str
    video_id: str
    caption: str


@dataclass
class GeneratedQA:
    dimension: str
    video_id: str
    qa: list[QAPair] | None  # None: failed
    raw: list[str]
    error: str | None = None


def read_reference_captions(path: Path, dimensions: Sequence[str]) -> list[CaptionToAsk]:
    """GT captions from ``VDC_1k.jsonl`` (nested ``captions`` dict or flat fields); later duplicates win."""
    found: dict[tuple[str, str], str] = {}
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        video_id = obj.get("video_id")
        if not isinstance(video_id, str) or not video_id:
            raise VdcBenchError(f"{where}: missing string field 'video_id'")
        holder = obj.get("captions") if isinstance(obj.get("captions"), dict) else obj
        for dim in dimensions:
            caption = holder.get(caption_key(check_dimension(dim)))
            if isinstance(caption, str) and caption.strip():
                found[(dim, video_id)] = caption
    if not found:
        raise VdcBenchError(f"{path}: no '<dimension>_caption' fields for {', '.join(dimensions)}")
    return [CaptionToAsk(d, v, c) for (d, v), c in sorted(found.items())]


def parse_qa_list(reply: str) -> list[QAPair] | None:
    """The first JSON (or Python-literal) array of ``{question, answer[, category]}`` objects in ``reply``."""
    text = (reply or "")[:_MAX_LIST_CHARS]
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        return None
    value: Any = None
    for loader in (json.loads, ast.literal_eval):
        try:
            value = loader(text[start : end + 1])
            break
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    if not isinstance(value, list):
        return None
    pairs = [
        QAPair(str(v["question"]).strip(), str(v["answer"]).strip(), str(v.get("category") or "").strip())
        for v in value
        if isinstance(v, dict) and str(v.get("question", "")).strip() and str(v.get("answer", "")).strip()
    ]
    return pairs or None


async def _generate_all(
    captions: Sequence[CaptionToAsk], settings: JudgeSettings, verdicts: VerdictCache, n_questions: int, progress: bool
) -> tuple[list[GeneratedQA], JudgeCalls]:
    prompt = load_qa_prompt()
    out: list[GeneratedQA | None] = [None] * len(captions)
    queue = iter(range(len(captions)))
    bar = tqdm(total=len(captions), desc="make-qa", unit="caption", disable=not progress)
    async with JudgeClient(settings, verdicts, f"make-qa:{prompt.sha256}") as judge:

        async def worker() -> None:
            for n in queue:
                c = captions[n]
                messages = prompt.messages(c.dimension, c.caption, n_questions)
                result = GeneratedQA(c.dimension, c.video_id, None, [])
                for _ in range(settings.reasks + 1):
                    reply = await judge.complete(messages)
                    if reply.text is None:
                        result.error = reply.error
                        break
                    result.raw.append(reply.text)
                    result.qa = parse_qa_list(reply.text)
                    if result.qa is not None:
                        break
                    messages = [*messages, {"role": "assistant", "content": reply.text},
                                {"role": "user", "content": prompt.reask}]
                else:
                    result.error = "unparsable QA list"
                out[n] = result
                bar.update(1)

        try:
            await asyncio.gather(*(worker() for _ in range(max(1, min(settings.concurrency, len(captions))))))
        finally:
            bar.close()
    return [r for r in out if r is not None], judge.stats


def generate_qa(
    captions: Sequence[CaptionToAsk], settings: JudgeSettings, verdicts: VerdictCache, n_questions: int = 20,
    progress: bool = True,
) -> tuple[list[GeneratedQA], JudgeCalls]:
    return run_coroutine(_generate_all(captions, settings, verdicts, n_questions, progress))


def qa_file_lines(results: Sequence[GeneratedQA], dimension: str) -> str:
    """VDCScore QA file content for one dimension (videos whose generation failed are left out)."""
    lines = []
    for r in results:
        if r.dimension == dimension and r.qa:
            pairs = [{"question": q.question, "answer": q.answer, "category": q.category} for q in r.qa]
            lines.append(json.dumps({r.video_id: pairs}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
