"""Two-phase batch judging: the judge calls a scoring run still needs, written as request files for the
OpenAI Batch API or vLLM's ``run_batch``, and their output files read back into the verdict cache.

A request line is ``{"custom_id": <verdict-cache key>, "method": "POST", "url": "/v1/chat/completions",
"body": <the request online mode sends>}``; the custom_id is the cache key itself, so an output line maps
back to exactly one cached reply. An output line (OpenAI's output and error files, vLLM's output file) is
``{"id", "custom_id", "response": {"status_code", "request_id", "body": <chat completion>} | null,
"error": null | <object or string>}``. A line with an error, a status other than 200 or a completion without
text leaves its call unjudged (it is asked again in the next export), like a call that failed online.

Rounds: call 2 quotes call 1's reply and a re-ask quotes the unparsable reply, so neither can be written
before the reply it depends on is imported. Each export holds every call that can be asked now; a scoring
run needs two rounds (call 1, call 2), plus one per re-ask level that a reply the parser cannot read makes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vdc_bench.atomic_write import atomic_write_text, ensure_output_folder
from vdc_bench.errors import VdcBenchError
from vdc_bench.scoring.judge_client import CallResult, JudgeClient, completion_text, request_body
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.verdict_cache import VerdictCache

BATCH_URL = "/v1/chat/completions"
REQUESTS_GLOB = "requests-*.jsonl"
MAX_LINES_PER_FILE = 50_000  # the OpenAI Batch API's limit on requests per input file
_KEY_CHARS = set("0123456789abcdef")


@dataclass
class BatchRound:
    """One round of batch judging: results read from output files (by request key) and the requests that
    scoring found neither in the verdict cache nor among those results."""

    replies: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # key -> (text, prompt, completion tokens)
    failures: dict[str, str] = field(default_factory=dict)  # key -> "file:line: why"
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> request body, for the next export
    used: set[str] = field(default_factory=set)  # keys of ``replies`` that scoring asked for

    def unused(self) -> int:
        """Imported replies this scoring never asked for (another judge, protocol, sampling or caption set)."""
        return len(self.replies.keys() - self.used)


class BatchJudgeClient(JudgeClient):
    """Answers from the verdict cache or the round's imported replies (storing those in the cache); every
    other call is collected as a request of the next export and returned as failed. Sends nothing."""

    def __init__(self, settings: JudgeSettings, cache: VerdictCache, protocol_id: str, batch: BatchRound) -> None:
        super().__init__(settings, cache, protocol_id)
        self.batch = batch

    async def __aenter__(self) -> BatchJudgeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def complete(
        self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None
    ) -> CallResult:
        key = self.request_key(messages, response_format)
        imported = self.batch.replies.get(key)
        if imported is not None:
            self.batch.used.add(key)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.cache_hits += 1
            return CallResult(hit, 0, True)
        if imported is not None:
            text, prompt_tokens, completion_tokens = imported
            self.cache.put(key, text, self.settings.model, self.protocol_id)
            self.stats.succeeded += 1
            self.stats.prompt_tokens += prompt_tokens
            self.stats.completion_tokens += completion_tokens
            return CallResult(text, 1, False)
        self.batch.requests.setdefault(key, request_body(self.settings, messages, response_format))
        self.stats.failed += 1
        failure = self.batch.failures.get(key)
        why = f"batch result failed ({failure})" if failure else "no batch result yet (asked in the next --batch-export)"
        return CallResult(None, 0, False, why)


def check_export_folder(folder: Path) -> Path:
    """``folder`` takes files and holds no earlier round's request files (checked before any work)."""
    ensure_output_folder(folder, "batch export folder")
    earlier = sorted(folder.glob(REQUESTS_GLOB))
    if earlier:
        raise VdcBenchError(f"{earlier[0]}: {folder} already holds batch request files (an earlier round?); "
                            "export each round into a new folder")
    return folder


def write_requests(folder: Path, requests: dict[str, dict[str, Any]]) -> list[Path]:
    """Write ``requests`` as batch input files ``requests-001.jsonl``, ... (at most ``MAX_LINES_PER_FILE`` lines
    each) into ``folder``, which must hold no earlier round's request files."""
    check_export_folder(folder)
    keys = list(requests)
    paths = []
    for n, start in enumerate(range(0, len(keys), MAX_LINES_PER_FILE), 1):
        path = folder / f"requests-{n:03d}.jsonl"
        atomic_write_text(path, (  # streamed: a full VDC round is hundreds of MB
            json.dumps({"custom_id": key, "method": "POST", "url": BATCH_URL, "body": requests[key]},
                       ensure_ascii=False) + "\n"
            for key in keys[start:start + MAX_LINES_PER_FILE]
        ))
        paths.append(path)
    return paths


def _message(error: Any) -> str:
    """The message of an error as OpenAI ({"message", "code"}) or vLLM ({"error": {"message"}}) write it."""
    if isinstance(error, dict):
        inner = error.get("error")
        found = error.get("message") or (inner.get("message") if isinstance(inner, dict) else inner) or error.get("code")
        return str(found or json.dumps(error))[:200]
    return str(error)[:200]


def _line_result(record: Any, where: str) -> tuple[str, str | None, tuple[str, int, int] | None]:
    """(custom_id, failure, reply) of one output line; a line that is not a batch output line raises."""
    if not isinstance(record, dict):
        raise VdcBenchError(f"{where}: not a batch output line (expected a JSON object)")
    key = record.get("custom_id")
    if not isinstance(key, str) or len(key) != 64 or not set(key) <= _KEY_CHARS:
        raise VdcBenchError(f"{where}: field 'custom_id' must be the 64-hex-digit request key written by "
                            f"--batch-export, got {str(key)[:80]!r}")
    response, error = record.get("response"), record.get("error")
    if response is not None and not isinstance(response, dict):
        raise VdcBenchError(f"{where}: field 'response' must be an object or null")
    if response is None and error is None:
        raise VdcBenchError(f"{where}: a batch output line needs a 'response' or an 'error'")
    if error is not None:
        return key, f"error: {_message(error)}", None
    status = response.get("status_code", 200)
    body = response.get("body")
    if status != 200:
        return key, f"HTTP {status}" + (f": {_message(body)}" if body else ""), None
    text = completion_text(body)
    if not text:  # empty or not a completion: a glitch, retried like online, never cached
        return key, "empty reply" if text is not None else "no chat completion in 'response.body'", None
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return key, None, (text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def read_outputs(paths: Sequence[Path]) -> BatchRound:
    """The replies and failures in batch output files (a key answered anywhere counts as answered)."""
    batch = BatchRound()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise VdcBenchError(f"{path}: cannot read the batch output file ({err})") from err
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise VdcBenchError(f"{where}: not JSON ({err.msg})") from err
            key, failure, reply = _line_result(record, where)
            if reply is not None:
                batch.replies.setdefault(key, reply)
            elif failure is not None:
                batch.failures.setdefault(key, f"{where}: {failure}")
    for key in batch.replies.keys() & batch.failures.keys():
        del batch.failures[key]
    return batch
