"""An aiohttp app served on a loopback port from a background thread.

The base of the suite's test doubles (the stub judge, the fault-injecting proxy): subclasses add
their routes and, if they hold resources such as a client session, open and close them in
``on_start``/``on_stop``. Use ``start()``/``stop()`` or a ``with`` block; ``url`` ends in ``/v1``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from aiohttp import web


def chat_completion(reply_id: str, model: str, text: str, usage: dict[str, Any]) -> web.Response:
    """An OpenAI chat-completion reply with one choice, as the stub servers answer."""
    return web.json_response({
        "id": reply_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage,
    })


def model_list(model: str) -> web.Response:
    """The ``/v1/models`` reply of a server that serves one model."""
    return web.json_response({"object": "list", "data": [{"id": model, "object": "model"}]})


class LoopbackApp:
    thread_name = "loopback-app"
    max_body_bytes = 8 * 1024 * 1024
    handler_cancellation = False  # True: a handler stops when its client disconnects

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def on_start(self) -> None:
        """Open resources (runs in the server's event loop before it listens)."""

    async def on_stop(self) -> None:
        """Close what ``on_start`` opened (runs in the server's event loop after it stopped)."""

    async def serve(self) -> None:
        """Listen in the running event loop (``self.port`` is the real port afterwards)."""
        await self.on_start()
        app = web.Application(client_max_size=self.max_body_bytes)
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=self.handler_cancellation)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self):
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            self._loop.run_until_complete(self.on_stop())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.thread_name} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
