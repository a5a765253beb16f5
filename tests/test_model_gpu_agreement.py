"""``python -m vdc_bench.gpu_bench.agreement`` end to end on CPU (tiny shapes; the GPU figures live in results/)."""

from __future__ import annotations

import json

from vdc_bench.gpu_bench.agreement import main, merge_agreement


def test_agreement_report_on_cpu(tmp_path):
    assert main(["--out", str(tmp_path), "--size", "tiny-tome", "--tower-frames", "2", "--tower-ratios", "0.1,1.0",
                 "--model-ratios", "0.4", "--requests", "2", "--frames", "2", "--max-new-tokens", "3"]) == 0
    results = json.loads((tmp_path / "agreement.json").read_text())
    merged, unmerged = results["tower"]["0.1"], results["tower"]["1.0"]
    assert merged["merge_steps_per_frame"] == 3 and merged["tokens_per_frame"] == 36 - 3 * 8
    assert 0 <= merged["eager16"]["identical_merge_steps"] <= 1 and merged["eager16"]["mean_token_cosine_min"] > 0.99
    assert unmerged["tokens_per_frame"] == 36 and unmerged["eager16"]["identical_merge_steps"] is None
    assert set(results["model"]["0.4"]) == {"mean_tokens_fp32", "eager16_vs_fp32"}
    assert results["environment"]["paths"] == ["fp32", "eager16"] and not results["environment"]["errors"]
    assert "## Whole model: greedy tokens" in (tmp_path / "agreement.md").read_text()


def test_merge_agreement_counts_steps_up_to_the_first_difference():
    import torch

    def step(src: list[bool], dst: list[int], tie: bool = False, margin: float = 1.0):
        return (torch.tensor([src]), torch.tensor([dst]), torch.tensor([tie]), torch.tensor([margin]))

    ref = [step([True, False], [1, -1]), step([False, True], [-1, 0], margin=1e-4), step([True, False], [0, -1])]
    same_then_flip = [ref[0], step([True, False], [0, -1], tie=True), ref[2]]
    result = merge_agreement(ref, same_then_flip)
    assert result["identical_merge_steps"] == round(1 / 3, 4) and result["first_different_block"] == [2]
    assert result["first_differences_at_a_tie"] == "1/1" and result["first_differences_at_a_near_tie"] == "1/1"
    assert result["first_differences_destination_only"] == "0/1"
    assert merge_agreement(ref, ref)["frames_all_merges_identical"] == 1.0
