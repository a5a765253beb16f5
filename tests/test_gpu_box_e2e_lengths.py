"""GPU-box end-to-end run at imposed VDC-like caption lengths: the length table, the steady-state
arithmetic, the plugin registration, and a real CPU lmms-eval run whose captions have the imposed lengths."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json

import pytest

from gpu_box.e2e_lengths import (
    MODEL_ID,
    main,
    model_manifests,
    parse_clip,
    steady_captions_per_s,
    write_model_dist_info,
)
from vdc_bench.errors import VdcBenchError
from vdc_bench.gpu_bench.lengths import DIMENSIONS, caption_lengths


def test_each_document_gets_the_benchmarks_draw_for_its_dimension():
    from gpu_box.imposed_lengths import imposed_length

    table = caption_lengths(5 * 4, seed=0)
    for doc_id in range(4):
        for d, dimension in enumerate(DIMENSIONS):
            assert imposed_length(f"vdc_{dimension}", doc_id, table) == table[5 * doc_id + d][1]
    # short captions are one sentence, detailed ones the longest
    assert imposed_length("vdc_short", 0, table) < imposed_length("vdc_detailed", 0, table)
    with pytest.raises(VdcBenchError, match="not a VDC dimension"):
        imposed_length("vdc_demo_short", 0, table)


def test_steady_rate_leaves_out_the_first_fill_and_the_drain():
    # batch 2: a slow first fill (compile), then one caption per 0.5 s, then a drain
    finished = [10.0, 10.1, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 20.0, 20.5]
    assert steady_captions_per_s(finished, 2) == pytest.approx(6 / (13.0 - 10.1))
    assert steady_captions_per_s(finished[:5], 2) is None  # too few captions for a window


def test_clip_option_is_validated():
    assert parse_clip("1280x720@30") == (1280, 720, 30.0)
    for bad in ("1280x720", "1281x720@30", "1280x720@0", "x@1"):
        with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT@SECONDS"):
            parse_clip(bad)


def test_model_entry_point_resolves(tmp_path):
    write_model_dist_info(tmp_path)
    (dist,) = md.distributions(path=[str(tmp_path)])
    (entry,) = [ep for ep in dist.entry_points if ep.group == "lmms_eval.models"]
    assert entry.load() is model_manifests
    (manifest,) = model_manifests()
    assert manifest.model_id == MODEL_ID


@pytest.mark.slow
def test_cpu_lmms_eval_run_has_the_imposed_lengths(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    rc = main(["--out", str(out), "--work", str(work), "--device", "cpu", "--size", "tiny", "--videos", "2",
               "--batch-size", "2", "--frames", "2", "--model-arg", "decode=static", "--threads", "1",
               "--no-warmup", "--timeout", "600"])
    assert rc == 0
    report = json.loads((out / "e2e_e2e.json").read_text())
    r = report["result"]
    assert r["captions"] == 10 and r["failed"] == 0 and r["length_mismatches"] == 0
    lengths = [n for _, n in caption_lengths(10, seed=0)]
    assert r["output_tokens"] == sum(lengths)
    timeline = json.loads((out / "timeline_e2e.json").read_text())
    assert len(timeline) == 1 and len(timeline[0]["finished_s"]) == 10 and len(timeline[0]["input_waits_s"]) == 10
