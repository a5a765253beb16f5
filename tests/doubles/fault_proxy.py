"""A fault-injecting OpenAI-compatible proxy (test helper, loopback only).

``FaultProxy(upstream_url, FaultPlan(rate=0.2, seed=7)).start()`` forwards ``POST /v1/chat/completions``
and ``GET /v1/models`` to ``upstream_url`` and, for a seeded share of attempts, answers with a fault
instead. The draw depends on (seed, request body, attempt number of that body), not on arrival order,
so concurrent clients see the same faults on every run:

* ``timeout``: nothing is sent for ``stall_s`` (longer than the client's timeout), then the socket closes;
* ``reset``: the connection is closed with a TCP RST before any reply;
* ``429`` (with ``Retry-After``), ``500``, ``503``: an OpenAI-style error body;
* ``empty``: the real completion with its content replaced by "";
* ``truncated``: the real reply body cut in half (invalid JSON) under HTTP 200;
* ``malformed``: HTTP 200 with valid JSON that is not a completion (no choices).

``injected`` counts the faults served by kind; ``forwarded`` the requests answered by the upstream.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from doubles.loopback_app import LoopbackApp

FAULTS = ("timeout", "reset", "429", "500", "503", "empty", "truncated", "malformed")


@dataclass(frozen=True)
class FaultPlan:
    rate: float = 0.2
    seed: int = 0
    faults: tuple[str, ...] = FAULTS
    stall_s: float = 3.0
    retry_after_s: float = 0.2

    def draw(self, body: bytes, attempt: int) -> str | None:
        """The fault (or None) for the ``attempt``-th arrival of ``body`` (hashed as canonical JSON, so the
        draws can be reproduced from the request alone)."""
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True).encode()
        except ValueError:
            canonical = body
        digest = hashlib.sha256(canonical).hexdigest()
        rng = random.Random(f"{self.seed}:{digest}:{attempt}")
        return rng.choice(self.faults) if rng.random() < self.rate else None


class FaultProxy(LoopbackApp):
    thread_name = "fault-proxy"
    max_body_bytes = 16 * 1024 * 1024
    handler_cancellation = True

    def __init__(self, upstream_url: str, plan: FaultPlan, host: str = "127.0.0.1") -> None:
        super().__init__(host, 0)
        self.upstream = upstream_url.rstrip("/")  # ends in /v1
        self.plan = plan
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._arrivals: Counter[bytes] = Counter()
        self._lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    async def _forward(self, request: web.Request, body: bytes | None) -> tuple[int, bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with self._session.request(
            request.method, self.upstream + request.path[len("/v1"):], data=body, headers=headers
        ) as resp:
            return resp.status, await resp.read()

    @staticmethod
    def _reset(request: web.Request) -> None:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if request.transport is not None:
            request.transport.close()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self._arrivals[body] += 1
            fault = self.plan.draw(body, self._arrivals[body])
            if fault is not None:
                self.injected[fault] += 1
        if fault in ("timeout", "reset"):
            if fault == "timeout":
                await asyncio.sleep(self.plan.stall_s)
            self._reset(request)
            return web.Response(status=500)  # never reaches the client: the connection is gone
        if fault in ("429", "500", "503"):
            headers = {"Retry-After": str(self.plan.retry_after_s)} if fault == "429" else None
            return web.json_response({"error": {"message": f"injected {fault}"}}, status=int(fault), headers=headers)
        if fault == "malformed":
            return web.json_response({"object": "chat.completion", "detail": "upstream hiccup"})
        status, payload = await self._forward(request, body)
        with self._lock:
            self.forwarded += 1
        if fault == "truncated":
            return web.Response(status=200, body=payload[: len(payload) // 2], content_type="application/json")
        if fault == "empty" and status == 200:
            data = json.loads(payload)
            data["choices"][0]["message"]["content"] = ""
            return web.json_response(data)
        return web.Response(status=status, body=payload, content_type="application/json")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        status, payload = await self._forward(request, None)
        return web.Response(status=status, body=payload, content_type="application/json")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)

    async def on_start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))

    async def on_stop(self) -> None:
        await self._session.close()  # type: ignore[union-attr]
