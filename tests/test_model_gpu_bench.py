"""The GPU benchmark's own logic on CPU (tiny geometry): it runs, and its fast path equals the baseline.

On CPU in fp32 the static decoder must give transformers ``generate``'s greedy tokens exactly, at a ToMe
ratio (our features, the language model's ``generate``) and at 1.0 (``LlavaForConditionalGeneration``).
"""

from __future__ import annotations

import json

import pytest
import torch

from vdc_bench.cli import main as cli_main
from vdc_bench.gpu_bench import run
from vdc_bench.gpu_bench.run import main

pytestmark = pytest.mark.slow  # minutes of CPU model work each: left out of the fast tier


def test_bench_runs_on_cpu_and_fast_path_matches_baseline(tmp_path):
    new_tokens = 12
    assert main(["--output", str(tmp_path), "--size", "tiny-geometry", "--frames", "2", "--ratios", "0.4,1.0",
                 "--new-tokens", str(new_tokens), "--repeats", "1", "--max-batch", "2", "--dtype", "float32"]) == 0
    rows = {row["ratio"]: row for row in json.loads((tmp_path / "gpu_bench.json").read_text())["rows"]}
    assert set(rows) == {0.4, 1.0}
    assert rows[0.4]["tokens_per_frame"] == 729 - 31 * 13 and rows[1.0]["tokens_per_frame"] == 729
    for row in rows.values():
        assert row["tokens_match_baseline"] == new_tokens
        assert row["divergence_logit_gap"] is None
        assert row["baseline_caption_s"] > 0 and row["decode_ms_per_token"] > 0 and row["batch"] >= 1
    assert rows[0.4]["merge_ms"] > 0 and rows[1.0]["merge_ms"] == 0
    table = (tmp_path / "gpu_bench.md").read_text()
    assert "| 2 | 0.4 | 326 |" in table and f"{new_tokens}/{new_tokens}" in table


def test_batch_search_shrinks_after_out_of_memory(tmp_path, monkeypatch):
    real = run._generate_static
    failed = []

    def out_of_memory_at_batch_2(decoder, seqs, new_tokens, vocab):
        if len(seqs) == 2 and not failed:
            failed.append(True)
            raise torch.OutOfMemoryError("simulated")
        return real(decoder, seqs, new_tokens, vocab)

    monkeypatch.setattr(run, "_generate_static", out_of_memory_at_batch_2)
    # Through ``vdc-bench bench``, which shares the options of ``python -m vdc_bench.gpu_bench``.
    assert cli_main(["bench", "--output", str(tmp_path), "--size", "tiny-geometry", "--frames", "2", "--ratios", "0.4",
                 "--new-tokens", "4", "--repeats", "1", "--max-batch", "2", "--headroom-gb", "0", "--no-baseline"]) == 0
    (row,) = json.loads((tmp_path / "gpu_bench.json").read_text())["rows"]
    assert failed and row["notes"] == ["batch 2 out of memory"] and row["batch"] == 1 and row["captions_per_s"] > 0
