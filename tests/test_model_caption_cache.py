"""The AuroraCap caption cache in process: the lmms-eval adapter on a tiny random checkpoint stores every
finished caption, a second adapter reuses them without generating, and any change of checkpoint, ratio,
prompt, video or generation settings gives no hits; lines cut short are skipped with a warning."""

from __future__ import annotations

import json
import os
import shutil
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from vdc_bench import sample_stats
from vdc_bench.models.auroracap import checkpoint
from vdc_bench.models.auroracap.caption_cache import ENV, CachedCaption, CaptionCache
from vdc_bench.models.auroracap.checkpoint import fingerprint
from vdc_bench.models.auroracap.random_checkpoint import make_checkpoint

TASK, SPLIT = "cache_test", "test"
PROMPTS = ("Describe the video.", "Describe the video briefly.", "Describe the background.")


@pytest.fixture(scope="module")
def tiny_xtuner(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "xtuner", "xtuner", "tiny", seed=0)


@pytest.fixture
def docs(model_make_video):
    videos = [model_make_video("a.mp4", frames=12), model_make_video("b.mp4", frames=16)]
    return [{"sample_key": f"dim/{i}", "video": str(videos[i % 2]), "prompt": PROMPTS[i]} for i in range(3)]


def _requests(docs, **gen_kwargs):
    gen = {"max_new_tokens": 6, **gen_kwargs}
    return [SimpleNamespace(args=(doc["prompt"], gen, lambda d: [d["video"]], i, TASK, SPLIT))
            for i, doc in enumerate(docs)]


class _Run:
    """One adapter (one lmms-eval process) over ``docs``: texts, per-sample stats, requests generated."""

    def __init__(self, path, docs, **model_args):
        from vdc_bench.models.auroracap.lmms_adapter import AuroraCap

        self.lm = AuroraCap(pretrained=str(path), num_frm=2, **model_args)
        self.lm.task_dict = {TASK: {SPLIT: docs}}
        self.generated = 0
        stream = self.lm.captioner.caption_stream

        def counting(requests, generation, batch_size):
            requests = list(requests)
            self.generated += len(requests)
            return stream(requests, generation, batch_size)

        self.lm.captioner.caption_stream = counting
        self.docs = docs

    def __call__(self, **gen_kwargs):
        texts = [r.text for r in self.lm.generate_until(_requests(self.docs, **gen_kwargs))]
        return texts, [sample_stats.pop(doc) for doc in self.docs]


def _lines(folder) -> int:
    return sum(len(p.read_text().splitlines()) for p in folder.rglob("*.jsonl"))


def test_adapter_reuses_finished_captions_with_their_stats_and_only_for_the_same_configuration(
        tiny_xtuner, docs, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "cache"))
    first = _Run(tiny_xtuner, docs, token_kept_ratio=0.5)
    texts, stats = first()
    assert first.generated == 3 and _lines(tmp_path / "cache") == 3
    assert all(s["cached"] is False and s["token_kept_ratio"] == 0.5 for s in stats)

    again = _Run(tiny_xtuner, docs, token_kept_ratio=0.5)
    texts2, stats2 = again()
    assert again.generated == 0 and texts2 == texts
    assert stats2 == [{**s, "cached": True} for s in stats]  # the measured stats of the run that made them
    assert _lines(tmp_path / "cache") == 3

    # what the key holds: other generation settings, prompt, video content; the ratio; the weights
    again(max_new_tokens=5)
    assert again.generated == 3
    docs[0]["prompt"] = "Describe the camera."
    docs[1]["video"] = docs[0]["video"]
    again()
    assert again.generated == 3 + 2
    other_ratio = _Run(tiny_xtuner, docs, token_kept_ratio=0.8)
    other_ratio()
    assert other_ratio.generated == 3

    changed = shutil.copytree(tiny_xtuner, tmp_path / "changed")
    projector = changed / "projector" / "model.safetensors"
    weights = load_file(projector)
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1.0
    save_file(weights, projector)
    other_weights = _Run(changed, docs, token_kept_ratio=0.5)
    other_weights()
    assert other_weights.generated == 3


def test_batching_and_rank_as_lmms_eval_sets_them_after_the_model_is_built(tiny_xtuner, docs, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path / "cache"))
    _Run(tiny_xtuner, docs)()
    batched = _Run(tiny_xtuner, docs, batch_size=2)
    batched.lm._rank, batched.lm._world_size = 1, 2  # as lmms-eval's evaluate() does, after __init__
    batched()
    assert batched.generated == 3  # batch mates can change fp16 tokens: no reuse across batch sizes
    assert batched.lm.cache.path.name.startswith("rank1-")
    described = json.loads((batched.lm.cache.folder / "configuration.json").read_text())
    assert described["configuration"]["batching"] == {"batch_size": 2, "processes": 2}
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_no_cache_without_the_variable(tiny_xtuner, docs, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    run = _Run(tiny_xtuner, docs)
    run()
    run()
    assert run.lm.cache is None and run.generated == 6


def test_a_line_cut_short_or_damaged_is_skipped_with_one_warning_naming_file_and_line(tmp_path, caplog):
    config = {"checkpoint": "abc", "settings": {"token_kept_ratio": 0.4}}
    writer = CaptionCache(tmp_path, config, "rank0-a")
    writer.put("k1", "d/1", CachedCaption("one", 10, 2, {"frames": 2}))
    writer.put("k2", "d/2", CachedCaption("two", 11, 3, {"frames": 2}))
    writer.close()
    path = writer.path
    good = path.read_bytes()
    first, second = good.splitlines(keepends=True)
    # a damaged middle line and a last line cut short by a kill mid-write
    path.write_bytes(first + b'{"schema": "vdc\xff' + b"\n" + second + second[:40])
    caplog.clear()
    reader = CaptionCache(tmp_path, config, "rank0-b")
    assert reader.get("k1").text == "one" and reader.get("k2").text == "two" and len(reader) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{path}:2: unreadable caption-cache line skipped (that caption is generated again)",
                        f"{path}:4: incomplete caption-cache line skipped (that caption is generated again)"]
    # a process appending to that file later never glues its line onto the cut one
    again = CaptionCache(tmp_path, config, "rank0-a")
    again.put("k3", "d/3", CachedCaption("three", None, None, {}))
    again.close()
    assert CaptionCache(tmp_path, config, "rank0-c").get("k3").text == "three"
    # a line of another configuration, copied into this folder, is not read as a caption of this one
    stranger = CaptionCache(tmp_path, {**config, "settings": {"token_kept_ratio": 0.5}}, "rank0-x")
    stranger.put("k4", "d/4", CachedCaption("four", None, None, {}))
    stranger.close()
    shutil.copy(stranger.path, reader.folder / "copied.jsonl")
    assert CaptionCache(tmp_path, config, "rank0-d").get("k4") is None


def test_checkpoint_fingerprint_follows_content_and_file_stats(tmp_path, monkeypatch):
    root = tmp_path / "ckpt"
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"a": 1}))
    weights = root / "sub" / "model.safetensors"
    save_file({"w": torch.zeros(4)}, weights)
    (root / ".cache").mkdir()
    base = fingerprint(root)
    (root / ".cache" / "download.lock").write_text("x")  # hidden files are not the checkpoint
    assert fingerprint(root) == base
    (root / "config.json").write_text(json.dumps({"a": 2}))  # same size, other content
    os.utime(root / "config.json", ns=(0, 0))
    assert fingerprint(root) != base
    (root / "config.json").write_text(json.dumps({"a": 1}))
    os.utime(root / "config.json", ns=(0, 0))
    base = fingerprint(root)
    monkeypatch.setattr(checkpoint, "FINGERPRINT_CONTENT_LIMIT", 0)  # large weights: by size and mtime only
    large = fingerprint(root)
    stat = weights.stat()
    save_file({"w": torch.ones(4)}, weights)  # rewritten in place, same size
    assert weights.stat().st_size == stat.st_size
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert fingerprint(root) != large


@pytest.mark.parametrize("command", ["run", "sweep", "demo"])
def test_run_sweep_and_demo_keep_the_cache_under_their_output_unless_told_otherwise(command, tmp_path, monkeypatch):
    from vdc_bench.cli import build_parser
    from vdc_bench.runs.lmms_runner import caption_cache_env

    required = {"run": ["--tasks", "vdc"], "sweep": ["--output", "x"], "demo": []}[command]
    assert build_parser().parse_args([command, *required]).caption_cache is True
    assert build_parser().parse_args([command, *required, "--no-caption-cache"]).caption_cache is False
    monkeypatch.delenv(ENV, raising=False)
    assert caption_cache_env(tmp_path / "out") == {ENV: str(tmp_path / "out" / "caption_cache")}
    assert caption_cache_env(tmp_path / "out", enabled=False) == {ENV: ""}  # the adapter then keeps no cache
    monkeypatch.setenv(ENV, str(tmp_path / "mine"))
    assert caption_cache_env(tmp_path / "out") == {ENV: str(tmp_path / "mine")}


def test_a_sweep_hands_its_caption_cache_to_every_ratio(tmp_path, monkeypatch):
    from vdc_bench.runs import sweep

    monkeypatch.delenv(ENV, raising=False)
    seen = []

    def fake_run(*args, env, **kwargs):
        seen.append(env[ENV])
        raise RuntimeError("stop here")

    monkeypatch.setattr(sweep, "run_lmms_eval", fake_run)
    for enabled in (True, False):
        with pytest.raises(RuntimeError, match="stop here"):
            sweep.evaluate_ratio(sweep.SweepConfig(output=tmp_path, caption_cache=enabled), 0.5, "x")
    # beside the ratio folders: a killed ratio's folder is set aside, its captions stay
    assert seen == [str(tmp_path.resolve() / "caption_cache"), ""]
