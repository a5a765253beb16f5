"""Video/image loading: sampling rule, containers without frame counts, real clips, bad files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from vdc_bench.models.auroracap import video_io
from vdc_bench.models.auroracap.image_processing import (
    CLIP_MEAN,
    CLIP_STD,
    FramePreprocessor,
    PreprocessConfig,
)
from vdc_bench.models.auroracap.video_io import VisualError, load_visual, sample_indices


def test_sample_indices_uniform_with_endpoints():
    assert sample_indices(24, 8) == [0, 3, 6, 9, 13, 16, 19, 23]
    assert sample_indices(5, 16) == [0, 1, 2, 3, 4]  # never more frames than the video has
    assert sample_indices(100, 1) == [0]
    assert sample_indices(0, 8) == []


@pytest.mark.parametrize(
    "name,codec,fmt,source",
    [("a.mp4", "mpeg4", None, "container"), ("b.MP4", "mpeg4", "mp4", "container"), ("c.avi", "mpeg4", None, "container"),
     ("d.mkv", "mpeg4", None, "packet_count"), ("e.mpg", "mpeg2video", "mpeg", "packet_count"),
     ("f.WebM", "libvpx", "webm", "packet_count")],
)
def test_containers_decode_with_the_right_frames(model_make_video, name, codec, fmt, source):
    path = model_make_video(name, frames=24, codec=codec, fmt=fmt)
    visual = load_visual(str(path), 8)
    assert visual.frames.shape == (8, 64, 96, 3) and visual.frames.dtype == np.uint8
    assert visual.frame_indices == [0, 3, 6, 9, 13, 16, 19, 23]
    assert visual.frame_count_source == source and visual.total_frames == 24
    # frame i is grey 10 i (lossy codecs blur it a little): identify each sampled frame
    reds = visual.frames[..., 0].mean(axis=(1, 2))
    nearest = np.abs(reds[:, None] - 10 * np.arange(24)[None, :]).argmin(axis=1)
    assert nearest.tolist() == visual.frame_indices


def test_duration_estimate_and_counting_pass_fallbacks(model_make_video, monkeypatch):
    path = model_make_video("g.mkv", frames=20)
    monkeypatch.setattr(video_io, "_count_packets", lambda _: 0)
    visual = load_visual(path, 4)
    assert visual.frame_count_source == "duration_x_rate" and len(visual.frames) == 4
    # an estimate beyond the real end: sampled again over the frames that decode (an estimate is not damage)
    monkeypatch.setattr(video_io, "_estimated_frame_count", lambda _: 40)
    visual = load_visual(path, 4)
    assert visual.frame_indices == [0, 6, 12, 19] and visual.total_frames == 20 and visual.frames_in_header == 40
    assert not visual.damaged
    monkeypatch.setattr(video_io, "_estimated_frame_count", lambda _: 0)
    visual = load_visual(path, 4)
    assert visual.frame_count_source == "counting_pass" and visual.frame_indices == [0, 6, 12, 19]


def test_real_clips_upper_case_mp4_and_mpeg_ps_without_frame_count(model_asset_videos, tmp_path):
    upper = tmp_path / "bigbuckbunny.MP4"
    shutil.copy(model_asset_videos["bigbuckbunny.mp4"], upper)
    bbb = load_visual(upper, 8)
    assert bbb.frames.shape == (8, 720, 1280, 3) and bbb.frame_count_source == "container"
    assert bbb.frame_indices[0] == 0 and bbb.frame_indices[-1] == bbb.total_frames - 1 == 131
    city = load_visual(model_asset_videos["cityCC0.mpg"], 8)
    assert city.frames.shape == (8, 405, 720, 3)
    assert city.frame_count_source != "container" and city.total_frames > 100
    assert city.frame_indices[-1] == city.total_frames - 1


def test_images_and_pil(tmp_path):
    path = tmp_path / "x.JPG"
    Image.new("RGB", (40, 30), (255, 0, 0)).save(path, format="JPEG")
    visual = load_visual(path, 16)
    assert visual.frames.shape == (1, 30, 40, 3) and visual.frame_count_source == "image"
    assert load_visual(Image.new("L", (8, 8)), 16).frames.shape == (1, 8, 8, 3)


@pytest.mark.parametrize("case", ["zero_byte", "corrupt", "unsupported", "missing_image", "missing_video", "text_as_video"])
def test_bad_visuals_name_the_file(tmp_path, case):
    path = {
        "zero_byte": tmp_path / "empty.mp4", "corrupt": tmp_path / "corrupt.mkv", "unsupported": tmp_path / "clip.xyz",
        "missing_image": tmp_path / "nope.png", "missing_video": tmp_path / "nope.mp4", "text_as_video": tmp_path / "t.avi",
    }[case]
    if case == "zero_byte":
        path.touch()
    elif case == "corrupt":
        path.write_bytes(np.random.default_rng(0).integers(0, 255, 4096, dtype=np.uint8).tobytes())
    elif case in ("unsupported", "text_as_video"):
        path.write_text("not a video\n" * 50)
    with pytest.raises(VisualError) as err:
        load_visual(str(path), 4)
    assert str(err.value).startswith(str(path))


def test_clip_preprocessing_shortest_edge_then_centre_crop():
    pre = FramePreprocessor(PreprocessConfig(shortest_edge=56, crop_size=56))
    frames = np.zeros((2, 60, 120, 3), np.uint8)
    frames[:, :, :30] = 255  # left quarter white: cropped away by the centre crop
    pixels = pre(frames)
    assert pixels.shape == (2, 3, 56, 56)
    black = -np.array(CLIP_MEAN) / np.array(CLIP_STD)
    np.testing.assert_allclose(pixels[0, :, 28, 28].numpy(), black, atol=1e-3)
    np.testing.assert_allclose(pixels[0, :, :, 0].mean(axis=1).numpy(), black, atol=0.05)

