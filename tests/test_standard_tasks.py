"""lmms-eval's own image and video tasks, unmodified, offline on staged local copies.

``vdc-bench data stage`` writes a Hub-layout copy into the datasets cache; the tasks then load it with
their usual ``load_dataset`` call under ``HF_DATASETS_OFFLINE=1``. The slow test runs them through
``python -m lmms_eval --model auroracap`` with each task's real metric code (pycocoevalcap needs Java).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import datasets
import pytest
import yaml

from vdc_bench.dataset.builtin_tasks import BUILTIN_TASKS
from vdc_bench.dataset.errors import DataFormatError, DataNotFoundError, MissingVideosError
from vdc_bench.dataset.hf_stage import stage_task

IMAGE_TASKS = ("flickr30k_test", "nocaps_val", "coco2017_cap_val", "gqa", "mmmu_val", "vqav2_val")
VIDEO_TASKS = ("vatex_test", "activitynetqa")
JUDGED_TASKS = ("activitynetqa_judged", "msrvtt_qa", "msvd_qa", "ivqa")


@pytest.fixture(scope="module")
def standard_copies(tmp_path_factory):
    """Hub-layout fixture copies of all built-in tasks: (task -> folder, videos folder)."""
    from standard_fixtures import fetch_photos, write_image_copies, write_video_copies

    root = tmp_path_factory.mktemp("standard_copies")
    copies = write_image_copies(root, fetch_photos(root / "photos"))
    video_copies, videos = write_video_copies(root)
    return {**copies, **video_copies}, videos


def _stage_all(copies, videos, home: Path) -> None:
    for task, source in copies.items():
        stage_task(task, source, videos if task in VIDEO_TASKS else None, cache=home / "datasets", home=home)


class _TaskYamlLoader(yaml.SafeLoader):
    pass


_TaskYamlLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _task_yaml(task: str) -> dict:
    import lmms_eval

    tasks = Path(lmms_eval.__file__).parent / "tasks"
    for path in tasks.rglob(f"{task}*.yaml"):  # lmms-eval names each YAML after its task
        config = yaml.load(path.read_text(), Loader=_TaskYamlLoader) or {}
        if isinstance(config, dict) and config.get("task") == task:
            for include in [config.pop("include")] if "include" in config else []:
                config = {**yaml.load((path.parent / include).read_text(), Loader=_TaskYamlLoader), **config}
            return config
    raise AssertionError(f"task {task} not in lmms-eval")


@pytest.mark.parametrize("task", sorted(BUILTIN_TASKS))
def test_registry_matches_the_installed_lmms_eval_task(task):
    spec, config = BUILTIN_TASKS[task], _task_yaml(task)
    assert spec.repo == config["dataset_path"]
    assert spec.tables[0].config == config.get("dataset_name")
    assert spec.tables[0].split == config["test_split"]
    if spec.videos is not None:
        assert config["dataset_kwargs"]["video"] and config["dataset_kwargs"]["cache_dir"] == spec.videos.cache_dir


def test_staged_copies_load_offline_as_the_tasks_load_them(standard_copies, tmp_path, monkeypatch):
    copies, videos = standard_copies
    _stage_all(copies, videos, tmp_path)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    for task, spec in BUILTIN_TASKS.items():
        for table in spec.tables:
            # the call lmms-eval 0.7.3's ConfigurableTask.download makes
            loaded = datasets.load_dataset(path=spec.repo, name=table.config, cache_dir=str(tmp_path / "datasets"),
                                           download_mode=datasets.DownloadMode.REUSE_DATASET_IF_EXISTS, token=True)
            rows = loaded[table.split]
            assert rows.num_rows == (2 if task in VIDEO_TASKS else 4), task
            assert set(table.columns) <= set(rows.column_names)
            if "image" in rows.column_names:
                assert rows[0]["image"].size[0] > 100  # a decoded real photo, not a path
    # videos sit where the tasks' doc_to_visual look for them
    assert sorted(p.name for p in (tmp_path / "vatex_test").iterdir()) == ["bigbuckbunny.mp4", "carphone_pristine.mp4"]
    assert (tmp_path / "activitynetqa" / "all_test" / "v_bigbuckbunny.mp4").resolve().is_file()


def test_restaging_one_split_keeps_the_others(standard_copies, tmp_path):
    copies, _ = standard_copies
    source = tmp_path / "nocaps"
    (source / "data").mkdir(parents=True)
    original = copies["nocaps_val"] / "data" / "validation-00000-of-00001.parquet"
    (source / "data" / "validation-00000-of-00001.parquet").write_bytes(original.read_bytes())
    stage_task("nocaps_val", source, cache=tmp_path / "cache", home=tmp_path)
    (source / "data" / "test-00000-of-00001.parquet").write_bytes(original.read_bytes())
    from vdc_bench.dataset.builtin_tasks import HubTable
    from vdc_bench.dataset.hf_stage import _features, _write_table, split_files

    table = HubTable(None, "test", BUILTIN_TASKS["nocaps_val"].tables[0].columns)  # nocaps_test's split
    files = split_files(source, table)
    _write_table("lmms-lab-encoder/NoCaps", table, files, _features(files, table, "nocaps_test"), tmp_path / "cache")
    info = json.loads(next((tmp_path / "cache").rglob("dataset_info.json")).read_text())
    assert sorted(info["splits"]) == ["test", "validation"]


def test_bad_copies_fail_with_one_line_naming_the_file(standard_copies, tmp_path):
    copies, videos = standard_copies
    with pytest.raises(DataNotFoundError, match="known: .*flickr30k_test"):
        stage_task("flickr30k", copies["flickr30k_test"], home=tmp_path)
    with pytest.raises(DataNotFoundError, match=r"testdev_balanced_images.*not found"):
        bare = tmp_path / "gqa_questions_only"
        shutil.copytree(copies["gqa"] / "testdev_balanced_instructions", bare / "testdev_balanced_instructions")
        stage_task("gqa", bare, home=tmp_path)
    # a column the task reads is missing: the file and column are named
    source = tmp_path / "flickr_bad" / "data"
    source.mkdir(parents=True)
    datasets.Dataset.from_dict({"image": ["x.png"], "img_id": ["0"]}).to_parquet(str(source / "test-00000-of-00001.parquet"))
    with pytest.raises(DataFormatError, match=r"test-00000-of-00001.parquet: column\(s\) caption missing"):
        stage_task("flickr30k_test", source.parent, home=tmp_path)
    with pytest.raises(DataNotFoundError, match="--videos"):
        stage_task("vatex_test", copies["vatex_test"], home=tmp_path)
    # every missing video is listed, and nothing is written
    partial = tmp_path / "some_videos"
    partial.mkdir()
    (partial / "bigbuckbunny.mp4").symlink_to(videos / "bigbuckbunny.mp4")
    with pytest.raises(MissingVideosError, match=r"1 missing video\(s\): carphone_pristine\.\{mp4,MP4,mkv\}"):
        stage_task("vatex_test", copies["vatex_test"], partial, cache=tmp_path / "cache", home=tmp_path)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "vatex_test").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="java missing (pycocoevalcap): run make java")
def test_builtin_tasks_run_offline_through_auroracap_with_their_real_metrics(standard_copies, model_tiny_checkpoints, tmp_path,
                                                                              scoring_stub):
    from vdc_bench.runs.lmms_runner import run_lmms_eval

    copies, videos = standard_copies
    home = tmp_path / "hf_home"
    _stage_all(copies, videos, home)
    from standard_fixtures import write_ivqa_copy, write_msrvtt_copy, write_qa_release_copies

    msrvtt = write_msrvtt_copy(tmp_path / "msrvtt")
    # activitynetqa itself is left out (its metric posts to api.openai.com); activitynetqa_judged runs on
    # the same staged data with our judge client, as do msrvtt_qa, msvd_qa and ivqa, here pointed at the
    # stub judge (plumbing, not quality)
    judge = scoring_stub()
    releases = write_qa_release_copies(tmp_path / "qa")
    ivqa = write_ivqa_copy(tmp_path / "ivqa")
    tasks = (*IMAGE_TASKS, "vatex_test", "msrvtt_cap_1ka", *JUDGED_TASKS)
    run = run_lmms_eval("auroracap", {"pretrained": model_tiny_checkpoints["xtuner"], "num_frm": 4}, tasks,
                        tmp_path / "out", batch_size=2, limit=2, timeout=1800,
                        env={"HF_HOME": str(home), "HF_DATASETS_CACHE": str(home / "datasets"),
                             "MSRVTT_ROOT": str(msrvtt), "MSRVTT_QA_ROOT": str(releases["msrvtt_qa"]),
                             "MSVD_QA_ROOT": str(releases["msvd_qa"]), "IVQA_ROOT": str(ivqa),
                             "VDC_JUDGE_BASE_URL": judge.url, "VDC_JUDGE_MODEL": "stub"})
    results = run.results()["results"]
    expected = {
        "flickr30k_test": [f"flickr_{m}" for m in ("Bleu_1", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")],
        "nocaps_val": [f"nocaps_{m}" for m in ("Bleu_1", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")],
        "coco2017_cap_val": [f"coco_{m}" for m in ("Bleu_1", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")],
        "gqa": ["exact_match"], "mmmu_val": ["mmmu_acc"], "vqav2_val": ["exact_match"],
        "vatex_test": [f"vatex_{m}" for m in ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")],
        "msrvtt_cap_1ka": [f"msrvtt_{m}" for m in ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")],
        **{task: ["judge_accuracy", "judge_score"] for task in JUDGED_TASKS},
        "ivqa": ["ivqa_acc", "judge_accuracy", "judge_score"],
    }
    max_new_tokens = {"gqa": 16, "vqav2_val": 16, "mmmu_val": 128}
    for task, metrics in expected.items():
        for metric in metrics:
            value = results[task][f"{metric},none"]
            assert isinstance(value, float) and math.isfinite(value) and value >= 0, (task, metric, value)
        samples = run.read_samples(task)
        assert len(samples) == 2
        # each task's own generation_kwargs: its max_new_tokens (random weights rarely stop early) and its
        # stop strings (lmms-eval adds "\n\n" when a task names none)
        counts = [s["token_counts"][0]["output_tokens"] for s in samples]
        assert max(counts) == max_new_tokens.get(task, 64) and min(counts) > 0, (task, counts)
        stop = "ASSISTANT:" if task in JUDGED_TASKS else "\n\n"  # its YAML's until, else the default
        assert all(stop not in s["filtered_resps"] for s in samples)
    assert all(s["msrvtt_CIDEr"]["data"]["n_docs"] == 2 for s in run.read_samples("msrvtt_cap_1ka"))
    # iVQA's own accuracy, recomputed from the logged answers with the metric's per-QA rule
    from vdc_bench.lmms_tasks.video_qa.metrics import ivqa_score

    ivqa_records = [s["ivqa_acc"] for s in run.read_samples("ivqa")]
    assert sorted(len(r["answers"]) for r in ivqa_records) == [5, 5]
    assert results["ivqa"]["ivqa_acc,none"] == sum(ivqa_score(r["pred"], r["answers"]) for r in ivqa_records) / 2
    for task in JUDGED_TASKS:
        judged = json.loads(next((tmp_path / "out" / "video_qa_judge").glob(f"{task}_*.json")).read_text())
        assert judged["protocol"]["name"] == "video_chatgpt_qa" and judged["judge"]["model"] == "stub"
        assert results[task]["judge_accuracy,none"] == judged["summary"]["accuracy"]
        assert [j["status"] for j in judged["judgements"]] == ["ok", "ok"]
    throughput = run.results()["throughput"]
    assert throughput["avg_failed_requests"] == 0


def test_stage_command_writes_into_hf_home_and_names_what_it_wrote(standard_copies, tmp_path, monkeypatch, capsys):
    from vdc_bench.cli import main

    copies, videos = standard_copies
    for key in ("LMMS_EVAL_DATASETS_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert main(["data", "stage", "activitynetqa", "--from", str(copies["activitynetqa"]), "--videos", str(videos)]) == 0
    out = capsys.readouterr().out
    assert "activitynetqa: default/test: 2 rows" in out and "2 videos linked" in out
    assert (tmp_path / "datasets" / "lmms-eval___activity_net_qa" / "default" / "0.0.0" / "local").is_dir()
    assert main(["data", "stage", "vatex_test", "--from", str(copies["vatex_test"])]) == 2
    assert "pass the folder that holds them (--videos DIR)" in capsys.readouterr().err
