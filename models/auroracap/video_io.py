"""Turn lmms-eval visuals (video paths, image paths, PIL images) into RGB frames (AuroraCap's frame sampling).

Videos are decoded with PyAV, sampled uniformly over the decoded-frame index with both endpoints
(``linspace(0, T-1, n)``, truncated), extensions matched case-insensitively. The frame count T comes from
the container; if it reports none (MPEG-PS ``.mpg``, many mkv/webm) the video packets are counted in a
demux-only pass (no decoding), then duration x average rate is tried, and last a full decode pass counts
frames. Duration-based estimates come first in the reference notes, but MPEG-PS durations are bitrate
guesses (a 50-frame clip reads as 36), so the exact packet count is preferred. The path taken is recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from vdc_bench.errors import VdcBenchError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".mpg", ".mpeg", ".avi", ".mov", ".m4v"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})


class VisualError(VdcBenchError):
    """A visual of one sample cannot be used; the message starts with the file it names."""


@dataclass
class DecodedVisual:
    """Frames of one visual. ``frames``: (F, H, W, 3) uint8 RGB."""

    source: str
    frames: np.ndarray
    frame_indices: list[int] = field(default_factory=list)
    total_frames: int = 1
    frame_count_source: str = "image"  # container | packet_count | duration_x_rate | counting_pass | image
    decode_s: float = 0.0
    frames_in_header: int = 1  # the frame count the file (or an estimate) gave; > total_frames: it ended early
    damaged: bool = False  # the file's own frame count promised frames that do not decode (truncated, corrupt)


def sample_indices(total_frames: int, num_frames: int, append_last: bool = False) -> list[int]:
    """``linspace(0, T-1, min(T, n))`` truncated to int: uniform over frame index, endpoints included.

    ``append_last`` adds T-1 when it is missing, as upstream's reader does; that only happens for
    n = 1, which then yields 2 frames (the first and the last).
    """
    n = min(total_frames, num_frames)
    indices = np.linspace(0, total_frames - 1, n).astype(int).tolist() if n > 0 else []
    if append_last and indices and indices[-1] != total_frames - 1:
        indices.append(total_frames - 1)
    return indices


def _open(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VisualError(f"{path}: cannot open video ({err})") from err
    if not container.streams.video:
        container.close()
        raise VisualError(f"{path}: no video stream")
    if container.streams.video[0].codec_context is None:  # no decoder: decoding it segfaults PyAV
        container.close()
        raise VisualError(f"{path}: unsupported video codec (this FFmpeg build has no decoder for it)")
    return container


def _estimated_frame_count(container: av.container.InputContainer) -> int:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        return 0
    return round(duration * float(rate)) if rate else 0


def _count_packets(path: Path) -> int:
    container = _open(path)
    try:
        return sum(1 for packet in container.demux(video=0) if packet.size)
    except av.FFmpegError:
        return 0
    finally:
        container.close()


def _count_frames(path: Path) -> int:
    container = _open(path)
    try:
        return sum(1 for _ in container.decode(video=0))
    except av.FFmpegError as err:
        raise VisualError(f"{path}: cannot decode video ({err})") from err
    finally:
        container.close()


def _frame_count(path: Path) -> tuple[int, str]:
    container = _open(path)
    try:
        if container.streams.video[0].frames > 0:
            return container.streams.video[0].frames, "container"
        estimate = _estimated_frame_count(container)
    finally:
        container.close()
    packets = _count_packets(path)
    if packets > 0:
        return packets, "packet_count"
    if estimate > 0:
        return estimate, "duration_x_rate"
    return _count_frames(path), "counting_pass"


def _decode_at(path: Path, wanted: list[int]) -> tuple[dict[int, np.ndarray], tuple[int, Any]]:
    """Decode ``path`` up to ``wanted[-1]``: ({position: RGB frame} for the wanted positions reached,
    (position, frame) of the last frame decoded). A decode error after the first frame ends the video there."""
    wanted_set = set(wanted)
    kept: dict[int, np.ndarray] = {}
    last: tuple[int, Any] | None = None
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for position, frame in enumerate(container.decode(stream)):
            last = (position, frame)
            if position in wanted_set:
                kept[position] = frame.to_ndarray(format="rgb24")
            if position >= wanted[-1]:
                break
    except av.FFmpegError as err:
        if last is None:
            raise VisualError(f"{path}: cannot decode video ({err})") from err
    finally:
        container.close()
    if last is None:
        raise VisualError(f"{path}: no decodable video frames")
    return kept, last


def decode_video(path: str | Path, num_frames: int, append_last: bool = False) -> DecodedVisual:
    """Sequentially decode ``path`` and keep the uniformly sampled frames.

    If the video ends before a sampled index (a truncated or corrupt file, or a frame-count estimate
    beyond the real end), the frames are sampled again, uniformly over the frames that do decode, and
    the visual says so (``decodable_frames``; ``damaged`` when the file's own index promised more).
    ``append_last``: see ``sample_indices``.
    """
    path = Path(path)
    started = time.perf_counter()
    total, count_source = _frame_count(path)
    wanted = sample_indices(total, num_frames, append_last)
    if not wanted:
        raise VisualError(f"{path}: no decodable video frames")
    kept, (last_position, last_frame) = _decode_at(path, wanted)
    decodable = None
    if last_position < wanted[-1]:
        decodable = last_position + 1
        wanted = sample_indices(decodable, num_frames, append_last)
        kept, _ = _decode_at(path, wanted)
        kept.setdefault(last_position, last_frame.to_ndarray(format="rgb24"))
    # A second pass stops where the first did; should it stop earlier, its last frame stands in.
    fallback = max(kept)
    indices = [i if i in kept else fallback for i in wanted]
    return DecodedVisual(
        source=str(path),
        frames=np.stack([kept[i] for i in indices]),
        frame_indices=indices,
        total_frames=total if decodable is None else decodable,
        frame_count_source=count_source,
        decode_s=time.perf_counter() - started,
        frames_in_header=total,
        damaged=decodable is not None and count_source in ("container", "packet_count"),
    )


def load_image(image: str | Path | Image.Image) -> DecodedVisual:
    started = time.perf_counter()
    if isinstance(image, Image.Image):
        source, pil = "<PIL image>", image
    else:
        source = str(image)
        try:
            pil = Image.open(image)
            pil.load()
        except (OSError, ValueError) as err:
            raise VisualError(f"{image}: cannot read image ({err})") from err
    frames = np.asarray(pil.convert("RGB"))[None]
    return DecodedVisual(source=source, frames=frames, frame_indices=[0], decode_s=time.perf_counter() - started)


def load_visual(visual: Any, num_frames: int, append_last: bool = False) -> DecodedVisual:
    """A video path, an image path or a PIL image -> frames. Raises VisualError naming the file.

    ``append_last``: see ``sample_indices``.
    """
    if isinstance(visual, Image.Image):
        return load_image(visual)
    if isinstance(visual, (str, Path)):
        path = Path(visual)
        if not path.is_file():
            raise VisualError(f"{path}: file not found")
        if path.stat().st_size == 0:
            raise VisualError(f"{path}: empty file (0 bytes)")
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return decode_video(path, num_frames, append_last)
        if suffix in IMAGE_EXTENSIONS:
            return load_image(path)
        raise VisualError(f"{path}: unsupported file type {path.suffix!r}")
    raise VisualError(f"<{type(visual).__name__}>: unsupported visual type")
