"""A deterministic OpenAI-compatible stub judge for tests and the scoring benchmark. Not a judge.

Replies are derived from a hash of the request, so the same request always gets the same reply:
verdict requests (call 2, and re-asks) get a Python-dict string, answer requests (call 1) get a few
words of the caption, JSON-schema requests get JSON, QA-generation requests (system prompt asking for
a "JSON array") get a small list of QA pairs built from the caption.

Fault injection (per distinct request, so retries of one request see the faults in order): the first
``fail_first`` attempts of every request fail with ``fault``: ``401``, ``429`` (with ``Retry-After``), ``500``,
``503``, ``timeout`` (the reply is delayed by ``stall_s``) or ``garbage`` (an unparsable verdict, for
verdict requests only, counted per conversation so that a re-ask can get a parsable reply). Counters record attempts and served replies per request.

Run standalone: ``python -m doubles.stub_judge_server --latency-ms 20`` prints ``READY <url>``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from doubles.loopback_app import LoopbackApp, chat_completion, model_list

FAULTS = ("401", "429", "500", "503", "timeout", "garbage")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class StubConfig:
    latency_s: float = 0.0
    fail_first: int = 0
    fault: str = "500"
    retry_after_s: float = 0.0
    stall_s: float = 5.0
    model: str = "stub-judge"


def _digest(payload: Any) -> int:
    return int(hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:12], 16)


def _usage(messages: list[dict[str, Any]], reply: str) -> dict[str, int]:
    """Whitespace words stand in for tokens: enough to test that usage is summed."""
    prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
    completion = len(reply.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _caption_words(text: str) -> list[str]:
    match = re.search(r"detailed description: (.*), question: ", text, re.S)
    return _WORD.findall(match.group(1) if match else text) or ["nothing"]


def _verdict(h: int, json_mode: bool) -> str:
    score = h % 6
    pred = "yes" if score >= 3 else "no"
    return json.dumps({"pred": pred, "score": score}) if json_mode else f"{{'pred': '{pred}', 'score': {score}}}"


def reply_for(body: dict[str, Any]) -> str:
    """The deterministic reply to a chat-completions request body."""
    messages = body.get("messages") or []
    h = _digest([messages, body.get("response_format")])
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    last = messages[-1].get("content", "") if messages else ""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    is_verdict = schema == "vdc_verdict" or "Predicted Answer:" in last or "'pred'" in last
    if "JSON array" in system:
        words = _caption_words(last)
        return json.dumps([
            {"question": f"What is shown with {words[(h + k) % len(words)]}?", "answer": words[(h + 2 * k) % len(words)],
             "category": ("object", "action", "location")[k]}
            for k in range(3)
        ])
    if is_verdict:
        return _verdict(h, schema == "vdc_verdict")
    words = _caption_words(messages[1].get("content", "") if len(messages) > 1 else last)
    answer = " ".join(words[(h + k) % len(words)] for k in range(1 + h % 3))
    return json.dumps({"answer": answer}) if schema == "vdc_answer" else answer


class StubJudgeServer(LoopbackApp):
    """Start with ``start()`` (background thread) or as a context manager; ``url`` ends in ``/v1``."""

    thread_name = "stub-judge"

    def __init__(self, config: StubConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.config = config or StubConfig()
        self.attempts: Counter[int] = Counter()  # request digest -> HTTP requests received
        self.served: Counter[int] = Counter()  # request digest -> successful replies sent
        self._turns: Counter[int] = Counter()
        self.received: list[list[dict[str, Any]]] = []  # every request's messages, in arrival order
        self._lock = threading.Lock()

    @property
    def total_attempts(self) -> int:
        with self._lock:
            return sum(self.attempts.values())

    @property
    def total_served(self) -> int:
        with self._lock:
            return sum(self.served.values())

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        key = _digest([body.get("messages"), body.get("response_format")])
        # Re-asks extend the conversation; "garbage" counts replies per conversation so a re-ask can succeed.
        conversation = _digest((body.get("messages") or [])[:2])
        with self._lock:
            self.received.append(body.get("messages") or [])
            self.attempts[key] += 1
            self._turns[conversation] += 1
            attempt = self.attempts[key]
            turn = self._turns[conversation]
        cfg = self.config
        if cfg.latency_s:
            await asyncio.sleep(cfg.latency_s)
        text = reply_for(body)
        if attempt <= cfg.fail_first and cfg.fault != "garbage":
            if cfg.fault == "429":
                return web.json_response(
                    {"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": str(cfg.retry_after_s)}
                )
            if cfg.fault in ("401", "500", "503"):
                return web.json_response({"error": {"message": "injected"}}, status=int(cfg.fault))
            if cfg.fault == "timeout":
                await asyncio.sleep(cfg.stall_s)
        if cfg.fault == "garbage" and turn <= cfg.fail_first and text.lstrip().startswith("{'pred'"):
            text = "I think the predicted answer is partially related to the correct answer."
        with self._lock:
            self.served[key] += 1
        return chat_completion(f"stub-{key:x}-{attempt}", body.get("model") or cfg.model, text,
                               _usage(body.get("messages") or [], text))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return model_list(self.config.model)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fault", choices=FAULTS, default="500")
    args = parser.parse_args(argv)
    server = StubJudgeServer(
        StubConfig(latency_s=args.latency_ms / 1000.0, fail_first=args.fail_first, fault=args.fault),
        args.host, args.port,
    )

    async def forever() -> None:
        await server.serve()
        print(f"READY {server.url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(forever())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
