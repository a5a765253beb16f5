"""``python -m lmms_eval --model auroracap`` end to end on a tiny random checkpoint and a test-only task.

Batch size 2 and two torchrun ranks (gloo, CPU) must produce the captions of batch size 1; a broken
video fails only its own sample, with the error (naming the file) in the sample and the failed count
in the results' throughput block.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from vdc_bench.runs.lmms_runner import LmmsEvalFailed, run_lmms_eval

pytestmark = pytest.mark.slow

TASK = "auroracap_smoke_test"

UTILS = '''
from vdc_bench import sample_stats


def doc_to_visual(doc):
    return [doc["video_path"]]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["prompt"]


def process_results(doc, results):
    stats = sample_stats.pop(doc)
    return {"smoke": {"sample_key": doc["sample_key"], "caption": results[0], "error": stats.get("error"), "stats": stats}}


def count(items):
    return float(len(items))
'''


@pytest.fixture(scope="module")
def smoke_task(tmp_path_factory):
    import av
    import numpy as np

    root = tmp_path_factory.mktemp("smoke_task")
    docs = []
    for i in range(4):
        path = root / (f"clip{i}.mp4" if i % 2 else f"clip{i}.MKV")
        with av.open(str(path), "w", format="mp4" if i % 2 else "matroska") as container:
            stream = container.add_stream("mpeg4", rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            rng = np.random.default_rng(i)
            for _ in range(10 + 3 * i):
                frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        docs.append({"sample_key": f"smoke/{i}", "video_path": str(path), "prompt": "Describe the video." + " Be brief." * i})
    broken = root / "broken.mp4"
    broken.touch()
    docs.insert(2, {"sample_key": "smoke/broken", "video_path": str(broken), "prompt": "Describe the video."})
    (root / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "utils.py").write_text(UTILS)
    (root / f"{TASK}.yaml").write_text(textwrap.dedent(f"""\
        task: {TASK}
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {root / 'docs.jsonl'}
        test_split: test
        output_type: generate_until
        doc_to_visual: !function utils.doc_to_visual
        doc_to_text: !function utils.doc_to_text
        doc_to_target: prompt
        process_results: !function utils.process_results
        generation_kwargs:
          max_new_tokens: 10
          until: []
        metric_list:
          - metric: smoke
            aggregation: !function utils.count
            higher_is_better: true
        metadata:
          version: 0.0
        """))
    return root


def run(smoke_task, checkpoint, out, **kwargs):
    model_args = {"pretrained": checkpoint, "num_frm": 4, "token_kept_ratio": 0.6}
    return run_lmms_eval("auroracap", model_args, [TASK], out, extra_args=["--include_path", str(smoke_task)],
                         env={"VDC_BENCH_NO_TASK_HOOK": "1"}, timeout=900, **kwargs)


def captions(lmms_run) -> dict[str, dict]:
    return {s["smoke"]["sample_key"]: s["smoke"] for s in lmms_run.read_samples(TASK)}


def test_batching_and_two_ranks_give_the_same_captions(smoke_task, model_tiny_checkpoints, tmp_path):
    checkpoint = model_tiny_checkpoints["xtuner"]
    single = run(smoke_task, checkpoint, tmp_path / "bs1", batch_size=1)
    batched = run(smoke_task, checkpoint, tmp_path / "bs2", batch_size=2)
    ranks = run(smoke_task, checkpoint, tmp_path / "ddp", batch_size=1, nproc=2)

    base = captions(single)
    assert len(base) == 5
    for other in (captions(batched), captions(ranks)):
        assert {k: v["caption"] for k, v in other.items()} == {k: v["caption"] for k, v in base.items()}
    good = [v for k, v in base.items() if k != "smoke/broken"]
    assert all(v["caption"] and v["error"] is None for v in good)
    assert all(v["stats"]["frames"] == 4 and len(v["stats"]["visual_tokens_per_frame"]) == 4 for v in good)
    assert captions(batched)["smoke/0"]["stats"]["batch_size"] == 2
    # Each sample names how it was computed (fp16 tokens can depend on it): CPU, fp32, transformers decode.
    for result, processes in ((single, 1), (batched, 1), (ranks, 2)):
        for v in captions(result).values():
            assert v["stats"]["processes"] == processes
            if v["error"] is not None:
                continue  # failed before the device: no dtype or decode path to record
            assert {k: v["stats"][k] for k in ("dtype", "device", "decode", "processes")} == {
                "dtype": "float32", "device": "cpu", "decode": "hf", "processes": processes}

    broken = base["smoke/broken"]
    assert broken["caption"] == "" and broken["error"].startswith(str(smoke_task / "broken.mp4"))
    throughput = single.results()["throughput"]
    assert throughput["avg_failed_requests"] == 1 and throughput["avg_latency"] > 0  # latency = time / total_requests
    assert throughput["avg_visual_tokens_per_frame"] > 0
    assert all(s["token_counts"][0]["output_tokens"] > 0 for s in single.read_samples(TASK) if s["smoke"]["caption"])


@pytest.mark.parametrize(
    "model_args,message",
    [({"token_kept_ratio": 0}, "token_kept_ratio must be in (0, 1]"),
     ({"frames": 8}, "unknown model arg 'frames'"),
     ({"pretrained": "/nonexistent/auroracap"}, "/nonexistent/auroracap: checkpoint directory not found")],
)
def test_bad_model_args_fail_at_start_with_one_message(smoke_task, model_tiny_checkpoints, tmp_path, model_args, message):
    args = {"pretrained": model_tiny_checkpoints["xtuner"], **model_args}
    with pytest.raises(LmmsEvalFailed) as err:
        run_lmms_eval("auroracap", args, [TASK], tmp_path, extra_args=["--include_path", str(smoke_task)],
                      env={"VDC_BENCH_NO_TASK_HOOK": "1"}, timeout=600)
    assert message in str(err.value)
