"""llama-cpp-python's OpenAI server, also accepting OpenAI-style structured-output requests.

Run by path with the judge venv's Python (``.venv-judge/bin/python llama_server_shim.py <llama_cpp.server
args>``); it imports only the standard library and llama_cpp. llama-cpp-python 0.3.36 rejects
``response_format={"type": "json_schema", "json_schema": {"schema": S, ...}}`` (the form OpenAI, vLLM and
SGLang take, and the one ``vdcscore-v1-json`` sends) but grammar-constrains
``{"type": "json_object", "schema": S}``. This ASGI wrapper rewrites the first into the second, so one
client request works against every server.
"""

from __future__ import annotations

import json
import os
import sys


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


class JsonSchemaCompat:
    """ASGI middleware applying ``translate`` to POST .../chat/completions bodies."""

    def __init__(self, app) -> None:
        self.app = app

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
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, replay, send)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [
        p for p in sys.path if os.path.abspath(p or ".") != here
    ]  # our siblings are not for this venv
    import llama_cpp.server.app as server_app

    create_app = server_app.create_app
    server_app.create_app = lambda **kwargs: JsonSchemaCompat(create_app(**kwargs))
    from llama_cpp.server.__main__ import main as llama_main  # binds the patched create_app

    llama_main()


if __name__ == "__main__":
    main()
