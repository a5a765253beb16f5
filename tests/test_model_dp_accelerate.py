"""Data-parallel lmms-eval through ``accelerate launch``: launcher, driver arithmetic, carried wheels,
and a real 1- vs 2-process run of the driver on CPU (gloo)."""

from __future__ import annotations

import importlib.metadata as md
import sys
import zipfile

import pytest

from gpu_box import carried_wheels
from gpu_box.data_parallel import (
    DpConfig,
    RunResult,
    compare_captions,
    markdown,
    median_batches,
    parse_phase_times,
    run,
    scaling,
    summary,
)
from gpu_box.plugin_metadata import ENTRY_NAME, GROUP, write_dist_info
from vdc_bench.runs.lmms_runner import launch_prefix, lmms_eval_command


def test_accelerate_launch_prefix_same_launcher_for_one_and_many_processes():
    one = launch_prefix(1, "accelerate")
    two = launch_prefix(2, "accelerate", main_process_port=29999)
    for head in (one, two):
        assert head[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
        assert head[-2:] == ["-m", "lmms_eval"]
        assert head[head.index("--mixed_precision") + 1] == "no"
    assert one[one.index("--num_processes") + 1] == "1" and "--multi_gpu" not in one
    assert two[two.index("--num_processes") + 1] == "2" and "--multi_gpu" in two
    assert two[two.index("--main_process_port") + 1] == "29999"
    # the existing behaviour: no launcher for one process, torchrun for several
    assert launch_prefix(1) == [sys.executable, "-m", "lmms_eval"]
    assert launch_prefix(2)[:4] == [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    with pytest.raises(ValueError, match="launcher"):
        launch_prefix(2, "mpirun")
    cmd = lmms_eval_command("auroracap", {"pretrained": "x"}, ["vdc"], "out", batch_size=4, nproc=2, launcher="accelerate")
    assert cmd[cmd.index("--batch_size") + 1] == "4" and cmd.index("--multi_gpu") < cmd.index("--model")


def test_phase_times_are_read_from_every_ranks_metric_summary_line():
    log = (
        "AuroraCap responding:  50%|#####     | 5/10 [00:01<00:01]\x1b[32m2026-11-26 10:55:49\x1b[0m | \x1b[1mINFO    \x1b[0m | "
        "\x1b[36mlmms_eval.models.model_utils.gen_metrics\x1b[0m - \x1b[1mMetric summary - Total elapsed time: 12.500s, "
        "Total gen tokens: 2400, Avg speed: 192.0 tokens/s, Additional metrics: total_requests: 8, failed_requests: 0\x1b[0m\n"
        "noise\n"
        "INFO | Metric summary - Total elapsed time: 11.250s, Total gen tokens: 2100, Avg speed: 186.7 tokens/s, "
        "Additional metrics: total_requests: 7, failed_requests: 0, frames: 16.0000\n"
    )
    assert parse_phase_times(log) == [(12.5, 2400, 8), (11.25, 2100, 7)]


def _result(processes: int, phase_s: float, batch_s: float, captions: int = 160) -> RunResult:
    return RunResult(processes=processes, wall_s=phase_s + 40, phase_s=phase_s, rank_phase_s=[phase_s] * processes,
                     rank_captions=[captions // processes] * processes, captions=captions,
                     output_tokens=captions * 300, failed=0, empty=0, peak_mem_gb=61.2,
                     rank_median_batch_s=[batch_s] * processes, rank_batch_captions=[16] * processes,
                     log=f"lmms_dp{processes}.log")


def test_median_batch_per_rank_from_the_samples_batch_stamps():
    def sample(doc_id: int, size: int, vit_ms: float, gen_s: float) -> dict:
        return {"doc_id": doc_id, "failed": False, "batch": (size, vit_ms, gen_s)}

    # rank 0 (even doc ids): batches of 1.0 s (first: compile + capture), 0.5 s, 0.4 s; rank 1: one batch
    rows = [sample(0, 2, 100.0, 0.9), sample(2, 2, 100.0, 0.9), sample(4, 2, 50.0, 0.45), sample(6, 2, 50.0, 0.45),
            sample(8, 1, 40.0, 0.36), sample(1, 4, 200.0, 0.8)]
    assert median_batches({str(i): r for i, r in enumerate(rows)}, 2) == ([0.5, 1.0], [2, 4])


def test_scaling_efficiency_and_markdown_summary(tmp_path):
    one, two = _result(1, 80.0, 7.5), _result(2, 42.5, 8.0)
    assert one.captions_per_s == 2.0 and two.tokens_per_s == pytest.approx(160 * 300 / 42.5)
    s = scaling(one, two)
    assert s["speedup"] == pytest.approx(80 / 42.5, abs=1e-3)
    assert s["efficiency"] == pytest.approx(80 / 42.5 / 2, abs=1e-3)  # (captions/s with 2) / (2 x captions/s with 1)
    assert s["wall_speedup"] == pytest.approx(120 / 82.5, abs=1e-3)
    assert two.steady_captions_per_s == 4.0 and s["steady_efficiency"] == pytest.approx(7.5 / 8.0, abs=1e-3)

    ref = {"a": {"caption": "x"}, "b": {"caption": "y"}, "c": {"caption": "z"}}
    assert compare_captions(ref, {"a": {"caption": "x"}, "b": {"caption": "Y"}}) == {
        "compared": 3, "identical": 1, "missing": 1}

    meta = {"card": "NVIDIA H100 80GB HBM3", "torch": "2.11.0", "cuda": "13.0", "transformers": "5.24.0",
            "accelerate": "1.15.0", "lmms-eval": "0.7.3"}
    report = summary(DpConfig(out=tmp_path), meta, [], [one, two], {"compared": 160, "identical": 158, "missing": 0})
    assert report["scaling"]["efficiency"] == s["efficiency"] and report["runs"][1]["captions_per_s"] == 3.7647
    text = markdown(report)
    assert "NVIDIA H100 80GB HBM3" in text
    assert "| 2 | 160 (80 / 80) | 42.5 (42.5 / 42.5) | 3.765 | 1129 | 8.00 / 8.00 | 4.000 | 82.5 | 61.2 |" in text
    assert "1.88x captions/s, scaling efficiency 94.1 % (steady state 93.8 %" in text and "158 of 160 captions identical" in text


def test_dist_info_exposes_our_lmms_eval_entry_point(tmp_path):
    write_dist_info(tmp_path)
    (dist,) = md.distributions(path=[str(tmp_path)])
    assert dist.metadata["Name"] == "vdc-bench"
    (ep,) = [ep for ep in dist.entry_points if ep.group == GROUP]
    assert ep.name == ENTRY_NAME and ep.value == "vdc_bench.registration:model_manifests"


def test_carried_wheel_list_pins_one_version_each_and_lzma_keeps_the_files(tmp_path):
    pins = carried_wheels.requirements()
    names = [pin.split("==")[0].lower().replace("-", "_") for pin in pins]
    assert all("==" in pin for pin in pins) and len(names) == len(set(names))
    assert {"lmms_eval", "datasets", "av"} <= set(names)

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    members = {"demo/big.bin": bytes(range(256)) * 4096, "demo/__init__.py": b"x = 1\n",
               "demo-1.0.dist-info/RECORD": b"demo/__init__.py,,\n"}
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    carried_wheels.recompress_lzma(wheel)
    with zipfile.ZipFile(wheel) as z:
        assert {i.filename: z.read(i) for i in z.infolist()} == members
        methods = {i.filename: i.compress_type for i in z.infolist()}
    assert methods["demo/big.bin"] == zipfile.ZIP_LZMA and methods["demo/__init__.py"] == zipfile.ZIP_DEFLATED


@pytest.mark.slow
def test_driver_two_cpu_processes_caption_every_doc_like_one_process(tmp_path):
    """The real driver on CPU: tiny random checkpoint, 4 synthetic videos x 5 dimensions, a 2-process warm-up,
    then accelerate launch with 1 and with 2 processes (gloo)."""
    cfg = DpConfig(out=tmp_path / "out", work=tmp_path / "work", size="tiny", videos=4, batch_size=2, gpus=2,
                   new_tokens=6, frames=2, device="cpu", warmup=True, port=29531, timeout_s=600)
    report = run(cfg)
    one, two = report["runs"]
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["captions"] == two["captions"] == 20 and two["rank_captions"] == [10, 10]
    assert one["failed"] == two["failed"] == 0 and one["empty"] == two["empty"] == 0
    assert len(two["rank_phase_s"]) == 2 and two["output_tokens"] == 20 * 6
    assert two["rank_batch_captions"] == [2, 2] and len(two["rank_median_batch_s"]) == 2
    assert [s["name"] for s in report["stages"]] == ["checkpoint", "synthetic data", "warm-up run (2 processes)"]
    assert report["scaling"]["captions"] == {"compared": 20, "identical": 20, "missing": 0}
    log = (cfg.out / "lmms_dp2.log").read_text()
    assert "accelerate.commands.launch --num_processes 2" in log.splitlines()[0] and "--multi_gpu" in log
    assert (cfg.out / "dp_scaling.md").read_text().startswith("# Data-parallel lmms-eval")
