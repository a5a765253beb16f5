"""llama-cpp-python's OpenAI server, also accepting OpenAI-style structured-output requests.

Run by path with the judge venv's Python (``.venv-judge/bin/python llama_server_shim.py <llama_cpp.server
args>``); it imports only the standard library and llama_cpp. llama-cpp-python 0.3.36 rejects
``response_format={"type": "json_schema", "json_schema": {"schema": S, ...}}`` (the form OpenAI, vLLM and
SGLang take, and the one ``vdcscore-v1-json`` sends) but grammar-constrains
``{"type": "json_object", "schema": S}``. This ASGI wrapper rewrites the first into the second, so one
client request works against every server.

It also answers a chat completion it has already answered with the same reply (``ReplyMemo``). A client
retries a request whose reply was lost on the way back (a timeout, a cut connection, a truncated body); the
server then holds that very prompt in its KV cache and evaluates only its last token again, alone, where the
first time it was the end of a longer batch. llama.cpp's kernels differ by batch size, so the logits, and
now and then the greedy reply, differed: a network fault could change a verdict. With the memo a retry
gets the first reply, and the server's cache is left as the first attempt left it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import OrderedDict


def translate(body: bytes) -> bytes:
    """Rewrite a chat-completion request body's ``json_schema`` response_format; other bodies unchanged."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    fmt = request.get("response_format") if isinstance(request, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return body
    spec = fmt.get("json_schema") or {}
    request["response_format"] = {"type": "json_object", "schema": spec.get("schema") or {}}
    return json.dumps(request).encode()


class ReplyMemo:
    """The last ``capacity`` successful (HTTP 200, not streamed) replies, by request body."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self.replies: OrderedDict[str, tuple[dict, bytes]] = OrderedDict()

    @staticmethod
    def key(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    def get(self, key: str) -> tuple[dict, bytes] | None:
        if key in self.replies:
            self.replies.move_to_end(key)
        return self.replies.get(key)

    def put(self, key: str, start: dict, body: bytes) -> None:
        self.replies[key] = (start, body)
        while len(self.replies) > self.capacity:
            self.replies.popitem(last=False)


class JudgeShim:
    """ASGI middleware for POST .../chat/completions: ``translate`` the body, then answer from the memo or
    forward to llama-cpp-python's app and remember a successful reply."""

    def __init__(self, app, memo: ReplyMemo | None = None) -> None:
        self.app = app
        self.memo = memo if memo is not None else ReplyMemo()

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith("/chat/completions")
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client disconnected before sending the whole body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = translate(b"".join(chunks))
        key = ReplyMemo.key(body)
        known = self.memo.get(key)
        if known is not None:
            await send(known[0])
            await send({"type": "http.response.body", "body": known[1], "more_body": False})
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict = {}
        parts: list[bytes] = []
        streamed = False

        async def capture(message) -> None:
            nonlocal start, streamed
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                streamed = streamed or message.get("more_body", False)
            await send(message)

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, replay, capture)
        if start.get("status") == 200 and not streamed:
            self.memo.put(key, start, b"".join(parts))


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [
        p for p in sys.path if os.path.abspath(p or ".") != here
    ]  # our siblings are not for this venv
    import llama_cpp.server.app as server_app

    create_app = server_app.create_app
    server_app.create_app = lambda **kwargs: JudgeShim(create_app(**kwargs))
    from llama_cpp.server.__main__ import main as llama_main  # binds the patched create_app

    llama_main()


if __name__ == "__main__":
    main()
