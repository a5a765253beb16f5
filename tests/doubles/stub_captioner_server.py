"""An OpenAI-compatible multimodal stub *captioner* (the model under test, not the judge).

It stands in for a vLLM/SGLang server or a hosted API behind lmms-eval's ``openai`` chat model and
checks what that model sends: every request must carry the prompt text and the video, either as
frames (``image_url`` data URLs, client-side decoding) or as a ``video_url`` to a local file that the
stub decodes itself with PyAV, as vLLM does (``num_frames`` from ``media_io_kwargs``). A request
without both is answered with HTTP 400, so the client reports a failed request. Each accepted
request is recorded in ``received`` (prompt, frame count, frame sizes, video path) and answered with
a deterministic caption naming what arrived.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from aiohttp import web

from doubles.loopback_app import LoopbackApp, chat_completion, model_list


@dataclass(frozen=True)
class Received:
    prompt: str
    frames: int
    frame_sizes: tuple[tuple[int, int], ...]
    video_path: str | None  # set when the video arrived as a URL rather than as frames


def _image_size(data_url: str) -> tuple[int, int]:
    from PIL import Image

    _, _, payload = data_url.partition("base64,")
    with Image.open(io.BytesIO(base64.b64decode(payload))) as img:
        return img.size


def _decode_video(path: Path, num_frames: int) -> list[tuple[int, int]]:
    """Sizes of ``num_frames`` frames spread over the clip (all frames when it is shorter)."""
    import av

    with av.open(str(path)) as container:
        sizes = [(f.width, f.height) for f in container.decode(video=0)]
    if not sizes:
        raise ValueError(f"{path}: no video frames")
    step = max(1, len(sizes) // max(1, num_frames))
    return sizes[::step][:num_frames]


class StubCaptionerServer(LoopbackApp):
    """Start with ``start()`` or as a context manager; ``url`` ends in ``/v1``."""

    thread_name = "stub-captioner"
    max_body_bytes = 64 * 1024 * 1024  # frames arrive base64-encoded

    def __init__(self, model: str = "stub-captioner", default_frames: int = 8) -> None:
        super().__init__()
        self.model, self.default_frames = model, default_frames
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def _parse(self, body: dict) -> Received:
        texts, frame_sizes, video_path = [], [], None
        for message in body.get("messages") or []:
            content = message.get("content")
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
            for part in parts:
                kind = part.get("type")
                if kind == "text":
                    texts.append(part.get("text") or "")
                elif kind == "image_url":
                    frame_sizes.append(_image_size(part["image_url"]["url"]))
                elif kind == "video_url":
                    url = urlparse(part["video_url"]["url"])
                    if url.scheme != "file":
                        raise ValueError(f"video_url must be a file:// URL here, got {url.scheme!r}")
                    video_path = unquote(url.path)
                    media = (body.get("media_io_kwargs") or {}).get("video") or {}
                    frame_sizes.extend(_decode_video(Path(video_path), int(media.get("num_frames", self.default_frames))))
        prompt = "\n".join(t for t in texts if t.strip())
        if not prompt:
            raise ValueError("the request carries no prompt text")
        if not frame_sizes:
            raise ValueError("the request carries no video frames and no video_url")
        return Received(prompt, len(frame_sizes), tuple(frame_sizes), video_path)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        try:
            got = self._parse(body)
        except (ValueError, KeyError, OSError) as err:
            return web.json_response({"error": {"message": f"stub captioner: {err}"}}, status=400)
        with self._lock:
            self.received.append(got)
        width, height = got.frame_sizes[0]
        words = " ".join(got.prompt.split()[:6])
        text = f"A video seen as {got.frames} frames of {width}x{height} pixels, described for: {words}"
        return chat_completion(f"stub-captioner-{len(self.received)}", body.get("model") or self.model, text,
                               {"prompt_tokens": got.frames, "completion_tokens": len(text.split()), "total_tokens": 0})

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return model_list(self.model)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
