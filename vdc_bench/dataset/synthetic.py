"""Synthetic VDC-format videos for scale and load tests: moving shapes, colours, camera pan/zoom.

Every caption and QA pair is derived from the scene parameters, so they are true of the video by
construction. The output is written in the same layout as the real dataset (see root_writer.py),
so the same loader and tasks read it (``VDC_ROOT=<dir> --tasks vdc``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from vdc_bench.dataset.root_writer import VIDEO_SUBDIR, VideoAnnotation, write_vdc_root

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40),
           "purple": (150, 60, 190), "orange": (240, 140, 30), "white": (245, 245, 245)}
BACKGROUNDS = {"light grey": (190, 190, 190), "dark blue": (25, 35, 90), "pale green": (175, 215, 175),
               "beige": (220, 205, 165)}
PATTERNS = {"vertical stripes": "vertical stripes", "checkerboard": "a checkerboard pattern"}  # name -> phrase
SHAPES = ("circle", "square", "triangle")
MOTIONS = {"left to right": (1, 0), "right to left": (-1, 0), "top to bottom": (0, 1), "bottom to top": (0, -1)}
CAMERAS = ("static", "pan left", "pan right", "zoom in", "zoom out")
COUNT_WORDS = {1: "one", 2: "two", 3: "three"}
ORDINALS = ("first", "second", "third")


@dataclass(frozen=True)
class ShapeSpec:
    shape: str
    colour: str
    size: str  # "small" | "large"
    motion: str  # key of MOTIONS

    @property
    def name(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"


@dataclass(frozen=True)
class SceneSpec:
    video_id: str
    background: str
    pattern: str
    shapes: tuple[ShapeSpec, ...]
    camera: str
    width: int = 160
    height: int = 120
    fps: int = 8
    n_frames: int = 24


def sample_scene(rng: random.Random, video_id: str, **frame_kwargs: int) -> SceneSpec:
    background = rng.choice(sorted(BACKGROUNDS))
    colours = rng.sample([c for c in sorted(COLOURS) if c != "white" or background != "light grey"], 3)
    shapes = tuple(
        ShapeSpec(rng.choice(SHAPES), colours[i], rng.choice(("small", "large")), rng.choice(sorted(MOTIONS)))
        for i in range(rng.randint(1, 3))
    )
    return SceneSpec(video_id, background, rng.choice(sorted(PATTERNS)), shapes, rng.choice(CAMERAS), **frame_kwargs)


def _view(scene: SceneSpec, t: float) -> tuple[float, float]:
    """Camera at time t in [0, 1]: (horizontal offset of the view in world px, zoom factor)."""
    travel = 0.25 * scene.width
    return {
        "static": (0.0, 1.0),
        "pan left": (-travel * t, 1.0),
        "pan right": (travel * t, 1.0),
        "zoom in": (0.0, 1.0 + 0.5 * t),
        "zoom out": (0.0, 1.5 - 0.5 * t),
    }[scene.camera]


def _shape_centre(scene: SceneSpec, k: int, t: float) -> tuple[float, float]:
    """World position of shape k at time t. Paths stay inside the central 30-70 % of the world,
    which every camera view (pan by 25 %, zoom up to 1.5x) keeps in frame."""
    dx, dy = MOTIONS[scene.shapes[k].motion]
    lane = 0.35 + 0.3 * (k + 1) / (len(scene.shapes) + 1)
    progress = 0.3 + 0.4 * t
    x = progress if dx > 0 else 1 - progress if dx < 0 else lane
    y = progress if dy > 0 else 1 - progress if dy < 0 else lane
    return x * scene.width, y * scene.height


def render_frames(scene: SceneSpec) -> Iterator[np.ndarray]:
    """Frames as (height, width, 3) uint8 RGB arrays."""
    h, w = scene.height, scene.width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.array(BACKGROUNDS[scene.background], dtype=np.float32)
    period = max(8, w // 8)
    for i in range(scene.n_frames):
        t = i / max(1, scene.n_frames - 1)
        offset, zoom = _view(scene, t)
        wx = (xs - w / 2) / zoom + w / 2 + offset  # screen -> world coordinates
        wy = (ys - h / 2) / zoom + h / 2
        if scene.pattern == "vertical stripes":
            dark = (np.floor(wx / period) % 2) == 1
        else:
            dark = ((np.floor(wx / period) + np.floor(wy / period)) % 2) == 1
        frame = np.where(dark[..., None], base * 0.8, base)
        for k, shape in enumerate(scene.shapes):
            sx, sy = _shape_centre(scene, k, t)
            r = (0.12 if shape.size == "large" else 0.06) * min(w, h)
            u, v = wx - sx, wy - sy
            if shape.shape == "circle":
                mask = u**2 + v**2 <= r**2
            elif shape.shape == "square":
                mask = (np.abs(u) <= r) & (np.abs(v) <= r)
            else:  # triangle pointing up
                mask = (v >= -r) & (v <= r) & (np.abs(u) <= (v + r) / 2)
            frame = np.where(mask[..., None], np.array(COLOURS[shape.colour], dtype=np.float32), frame)
        yield frame.astype(np.uint8)


def encode_video(frames: Iterator[np.ndarray], path: Path, fps: int) -> None:
    """H.264 in MP4 via PyAV (yuv420p, so width and height must be even)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for i, rgb in enumerate(frames):
            if i == 0:
                stream.height, stream.width = rgb.shape[:2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _camera_sentence(camera: str) -> str:
    return {
        "static": "The camera is static: a single continuous shot viewed head-on, with no pans, zooms or cuts.",
        "pan left": "The camera pans steadily to the left in a single continuous shot viewed head-on, so the "
                    "background pattern slides to the right across the frame; there are no zooms or cuts.",
        "pan right": "The camera pans steadily to the right in a single continuous shot viewed head-on, so the "
                     "background pattern slides to the left across the frame; there are no zooms or cuts.",
        "zoom in": "The camera zooms in steadily toward the centre in a single continuous shot viewed head-on, so the "
                   "pattern and the shapes grow larger; there are no pans or cuts.",
        "zoom out": "The camera zooms out steadily from the centre in a single continuous shot viewed head-on, so the "
                    "pattern and the shapes grow smaller; there are no pans or cuts.",
    }[camera]


def _qa(question: str, answer: str, category: str) -> dict[str, str]:
    return {"question": question, "answer": answer, "category": category}


def annotate(scene: SceneSpec, file: str) -> VideoAnnotation:
    """Five captions and the QA pairs of each dimension, all read off the scene parameters."""
    n = len(scene.shapes)
    count = COUNT_WORDS[n]
    names = [s.name for s in scene.shapes]
    names = [f"a {name}" for name in names]
    listed = names[0] if n == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    moving = "moves" if n == 1 else "move"
    pan = scene.camera.startswith("pan")
    zoom = scene.camera.startswith("zoom")
    pattern = PATTERNS[scene.pattern]
    surface = f"a {scene.background} background with {pattern}"
    motions = " ".join(f"The {s.name} moves from {s.motion}." for s in scene.shapes)
    camera_note = "" if scene.camera == "static" else f" while the camera {'pans' if pan else 'zooms'} {scene.camera.split()[1]}"

    captions = {
        "short": f"{count.capitalize()} simple shape{'s' if n > 1 else ''}, {listed}, {moving} across {surface}{camera_note}.",
        "background": f"The background is a flat {scene.background} surface with {pattern} in a slightly darker "
                      f"shade of the same colour. It is a synthetic, computer-generated scene: there is no real location, "
                      f"weather or time of day, and no other objects. "
                      + ("The pattern stays fixed in the frame." if scene.camera == "static"
                         else "The pattern shifts sideways as the camera pans." if pan
                         else "The pattern changes scale as the camera zooms."),
        "main_object": f"There {'is' if n == 1 else 'are'} {count} moving object{'s' if n > 1 else ''}: {listed}. "
                       + " ".join(f"The {ORDINALS[k]} object, a {s.name}, moves steadily in a straight line from "
                                  f"{s.motion} without changing shape, size or colour." for k, s in enumerate(scene.shapes)),
        "camera": _camera_sentence(scene.camera),
        "detailed": f"This short synthetic animation shows {surface}. {motions} "
                    f"{_camera_sentence(scene.camera)} The shapes are flat and evenly coloured, and nothing else "
                    f"appears in the scene.",
    }
    first = scene.shapes[0]
    qa = {
        "camera": [
            _qa("Is the camera static or moving?", "static" if scene.camera == "static" else "moving", "camera movement"),
            _qa("Does the camera pan?", f"yes, to the {scene.camera.split()[1]}" if pan else "no", "camera movement"),
            _qa("Does the camera zoom?", f"yes, it zooms {scene.camera.split()[1]}" if zoom else "no", "zoom"),
            _qa("How many shots are there?", "one", "transition"),
            _qa("Are there any cuts?", "no", "transition"),
            _qa("From what angle is the scene viewed?", "head-on from the front", "angle"),
            _qa("Does the background pattern move in the frame?", "no" if scene.camera == "static" else "yes", "effect"),
            _qa("Is the camera motion steady?", "yes", "camera movement"),
        ],
        "short": [
            _qa("How many shapes are in the video?", count, "object"),
            _qa("What colour is the background?", scene.background, "color"),
            _qa("What pattern is on the background?", scene.pattern, "object"),
            _qa(f"What colour is the {first.shape}?", first.colour, "color"),
            _qa(f"In which direction does the {first.colour} {first.shape} move?", first.motion, "action"),
            _qa("Is the video real footage or synthetic?", "synthetic", "style"),
            _qa("Is the camera moving?", "no" if scene.camera == "static" else "yes", "camera"),
            _qa("What kind of objects are shown?", "simple geometric shapes", "object"),
        ],
        "background": [
            _qa("What colour is the background?", scene.background, "color"),
            _qa("What pattern does the background have?", scene.pattern, "object"),
            _qa("Is the scene a real location?", "no, it is synthetic", "location"),
            _qa("What is the weather?", "not shown", "weather"),
            _qa("What time of day is it?", "not shown", "time"),
            _qa("Are there other objects in the background?", "no", "object"),
            _qa("Does the background pattern move in the frame?", "no" if scene.camera == "static" else "yes", "action"),
            _qa("Why does the background pattern move?", "it does not move" if scene.camera == "static"
                else "because the camera moves", "reason"),
        ],
        "main_object": [_qa("How many objects move?", count, "object")] + [
            qa for k, s in enumerate(scene.shapes) for qa in (
                _qa(f"What shape is the {ORDINALS[k]} object?", s.shape, "object"),
                _qa(f"What colour is the {s.shape} that moves from {s.motion}?", s.colour, "color"),
                _qa(f"Is the {s.colour} {s.shape} small or large?", s.size, "attribute"),
                _qa(f"In which direction does the {s.colour} {s.shape} move?", s.motion, "action"),
            )
        ] + [_qa("Do the objects change colour?", "no", "attribute")],
        "detailed": [
            _qa("What is the video?", "a synthetic animation of moving shapes", "style"),
            _qa("What colour is the background?", scene.background, "color"),
            _qa("What pattern is on the background?", scene.pattern, "object"),
            _qa("How many shapes move?", count, "object"),
            _qa(f"What colour is the {first.shape}?", first.colour, "color"),
            _qa(f"How does the {first.colour} {first.shape} move?", f"from {first.motion}", "action"),
            _qa("What does the camera do?", {"static": "stays still", "pan left": "pans left", "pan right": "pans right",
                                             "zoom in": "zooms in", "zoom out": "zooms out"}[scene.camera], "camera"),
            _qa("Are there any people?", "no", "object"),
        ],
    }
    return VideoAnnotation(scene.video_id, file, captions, qa)


def make_synthetic_root(out: Path, n: int, seed: int = 0, width: int = 160, height: int = 120,
                        fps: int = 8, seconds: float = 3.0) -> Path:
    """Write ``n`` synthetic videos with annotations under ``out`` in the VDC layout. Deterministic in ``seed``."""
    if width % 2 or height % 2:
        raise ValueError("width and height must be even (yuv420p)")
    out = Path(out)
    rng = random.Random(seed)
    annotations = []
    for i in tqdm(range(n), desc="synthetic videos", unit="video"):
        scene = sample_scene(rng, f"synthetic-{seed}-{i:05d}", width=width, height=height, fps=fps,
                             n_frames=max(2, round(seconds * fps)))
        file = f"{scene.video_id}.mp4"
        encode_video(render_frames(scene), out / VIDEO_SUBDIR / file, fps)
        annotations.append(annotate(scene, file))
    return write_vdc_root(out, annotations)
