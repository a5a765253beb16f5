"""The lmms-eval tasks: group layout, per-dimension docs for every layout, generation kwargs, records."""

from __future__ import annotations

import json

import pytest
from vdc_fixtures import IDS, LAYOUTS, caption, write_root

from vdc_bench import sample_stats
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.lmms_tasks import TASKS_DIR


@pytest.fixture(scope="module")
def task_manager():
    from lmms_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR))


def _leaf_tasks(task_dict) -> dict:
    out = {}
    for key, value in task_dict.items():
        if isinstance(value, dict):
            out.update(_leaf_tasks(value))
        else:
            out[key] = value
    return out


def _load(task_manager, names):
    from lmms_eval.tasks import get_task_dict

    return _leaf_tasks(get_task_dict(names, task_manager))


def test_group_and_subtask_names_are_ours_not_the_builtin_ones(task_manager):
    for name in ["vdc", "vdc_demo"] + [f"vdc_{d}" for d in DIMENSIONS] + [f"vdc_demo_{d}" for d in DIMENSIONS]:
        assert name in task_manager.all_tasks, name
    group = task_manager._get_config("vdc")
    assert sorted(group["task"]) == sorted(f"vdc_{d}" for d in DIMENSIONS)
    assert [(m["metric"], m["aggregation"], m["weight_by_size"]) for m in group["aggregate_metric_list"]] == [
        ("vdc_acc", "mean", False), ("vdc_score", "mean", False)]
    for name in task_manager.all_tasks:
        if name.startswith("vdc"):
            assert not name.endswith("_test"), name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_subtask_sees_only_its_dimension(tmp_path, monkeypatch, task_manager, layout):
    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / layout, layout)))
    tasks = _load(task_manager, ["vdc"])
    assert {t.config.task for t in tasks.values()} == {f"vdc_{d}" for d in DIMENSIONS}
    for task in tasks.values():
        dim = task.config.task.removeprefix("vdc_")
        docs = list(task.test_docs())
        assert [d["video_id"] for d in docs] == sorted(IDS)
        assert {d["dimension"] for d in docs} == {dim}
        assert [d["reference_caption"] for d in docs] == [caption(dim, v) for v in sorted(IDS)]
        assert all(f"{dim} question" in q["question"] for d in docs for q in json.loads(d["qa_list"]))
        assert task.doc_to_text(docs[0]) == docs[0]["prompt"]
        assert task.doc_to_visual(docs[0]) == [docs[0]["video_path"]]


def test_metrics_reference_the_scoring_aggregations(tmp_path, monkeypatch, task_manager):
    from vdc_bench.lmms_tasks.vdc import metrics as lmms_metrics

    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / "r", "post_eval")))
    task = _load(task_manager, ["vdc_short"])["vdc_short"]
    assert task.aggregation() == {"vdc_acc": lmms_metrics.aggregate_acc, "vdc_score": lmms_metrics.aggregate_score}
    assert task.higher_is_better() == {"vdc_acc": True, "vdc_score": True}


def test_generation_kwargs_never_truncate_and_accept_overrides(tmp_path, monkeypatch, task_manager):
    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / "r", "hf_flat")))
    tasks = _load(task_manager, ["vdc"])
    for task in tasks.values():
        # what the evaluator does for `--gen_kwargs max_new_tokens=7,temperature=0.5`
        task.set_config(key="generation_kwargs", value={"max_new_tokens": 7, "temperature": 0.5}, update=True)
        task.build_all_requests(limit=None, rank=0, world_size=1)
        gen = task.instances[0].args[1]
        assert gen["until"] == []
        assert gen["max_new_tokens"] == 7 and gen["temperature"] == 0.5 and gen["do_sample"] is False
    fresh = _load(task_manager, ["vdc_detailed"])["vdc_detailed"]
    fresh.build_all_requests(limit=None, rank=0, world_size=1)
    assert fresh.instances[0].args[1] == {"until": [], "max_new_tokens": 1024, "do_sample": False,
                                          "temperature": 0.0, "num_beams": 1}


def test_process_results_record_carries_everything_scoring_needs(tmp_path, monkeypatch, task_manager):
    monkeypatch.setenv("VDC_ROOT", str(write_root(tmp_path / "r", "lmms_parquet")))
    task = _load(task_manager, ["vdc_camera"])["vdc_camera"]
    ok_doc, failed_doc = list(task.test_docs())[:2]
    sample_stats.record(ok_doc, {"frames": 16, "visual_tokens": 5216})
    sample_stats.record(failed_doc, {"error": "x.mp4: cannot decode"})
    ok = task.process_results(ok_doc, ["  A caption.\n\nSecond paragraph.  "])
    failed = task.process_results(failed_doc, [""])
    assert ok["vdc_acc"] is ok["vdc_score"]
    rec = ok["vdc_acc"]
    assert rec["caption"] == "A caption.\n\nSecond paragraph."
    assert {k: rec[k] for k in ("video_id", "dimension", "sample_key", "prompt", "prompt_index", "reference_caption")} == {
        k: ok_doc[k] for k in ("video_id", "dimension", "sample_key", "prompt", "prompt_index", "reference_caption")}
    assert rec["qa"] == json.loads(ok_doc["qa_list"]) and rec["qa"][0]["question"].startswith("camera question")
    assert rec["failed"] is False and rec["error"] is None and rec["stats"] == {"frames": 16, "visual_tokens": 5216}
    assert rec["data"]["layout"] == "lmms_parquet" and rec["data"]["n_docs"] == 3
    assert failed["vdc_acc"]["failed"] is True and failed["vdc_acc"]["error"] == "x.mp4: cannot decode"
    assert sample_stats.pop(ok_doc) == {}  # popped, nothing left behind
    json.dumps(ok)  # the samples file must be able to hold it


def test_missing_videos_stop_task_building_before_any_generation(tmp_path, monkeypatch, task_manager):
    from vdc_bench.dataset.errors import MissingVideosError

    root = write_root(tmp_path / "r", "post_eval")
    (root / "videos" / "vidB-2.mp4").unlink()
    monkeypatch.setenv("VDC_ROOT", str(root))
    with pytest.raises(MissingVideosError, match="vidB-2"):
        _load(task_manager, ["vdc"])
    monkeypatch.setenv("VDC_ON_MISSING", "skip")
    tasks = _load(task_manager, ["vdc"])
    assert all(len(t.test_docs()) == 2 for t in tasks.values())


def test_prompt_per_video_is_the_same_with_one_and_two_ranks(tmp_path, monkeypatch, task_manager):
    """lmms-eval shards docs by rank before building prompts; ours are fixed per video beforehand."""
    from vdc_bench.dataset.synthetic import make_synthetic_root

    monkeypatch.setenv("VDC_ROOT", str(make_synthetic_root(tmp_path / "syn", 9, width=16, height=16, seconds=0.25)))

    def prompts(world_size: int, names: list[str]) -> dict[str, str]:
        out = {}
        for rank in range(world_size):
            for task in _load(task_manager, names).values():  # fresh task objects per "process"
                task.build_all_requests(limit=None, rank=rank, world_size=world_size)
                docs = task.test_docs()
                out.update({docs[i.doc_id]["sample_key"]: i.args[0] for i in task.instances})
        return out

    one = prompts(1, ["vdc"])
    assert len(one) == 45
    assert prompts(2, list(reversed([f"vdc_{d}" for d in DIMENSIONS]))) == one
