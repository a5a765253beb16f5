"""Caption prompts: verbatim protocol data, stable choice independent of process count and order."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest
from vdc_fixtures import write_root

from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.dataset.loader import load_dimension
from vdc_bench.dataset.prompts import PROMPTS_FILE, caption_prompts, choose_prompt, prompt_index
from vdc_bench.dataset.settings import DataSettings

IDS = [f"video-{i:04d}" for i in range(200)]


def test_lists_match_the_reference_lmms_eval_task_verbatim():
    """The installed lmms-eval ships the same lists; compare without importing it (it needs HF_HOME, sglang)."""
    spec = importlib.util.find_spec("lmms_eval")
    path = Path(spec.origin).parent / "tasks" / "vdc" / "utils.py"
    if not path.is_file():
        pytest.skip("lmms-eval's built-in vdc task is not installed")
    upstream = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.endswith("_CAPTION_PROMPTS"):
            upstream[node.targets[0].id] = ast.literal_eval(node.value)
    data = json.loads(PROMPTS_FILE.read_text())["dimensions"]
    for dim in DIMENSIONS:
        assert list(caption_prompts(dim)) == upstream[data[dim]["upstream_name"]]


def test_list_sizes_and_protocol_quirks():
    assert {d: len(caption_prompts(d)) for d in DIMENSIONS} == {
        "camera": 16, "short": 16, "background": 16, "main_object": 16, "detailed": 24}
    assert "video frames.Summary of the background" in caption_prompts("background")[0]
    assert caption_prompts("short")[15] == "Briefly one-sentence Summary of the visual, Photographic and artistic style."
    assert "_source" in json.loads(PROMPTS_FILE.read_text())


def test_canonical_mode_is_always_the_first_prompt():
    for dim in DIMENSIONS:
        assert {choose_prompt(v, dim, mode="canonical") for v in IDS[:20]} == {(0, caption_prompts(dim)[0])}


def test_hash_choice_depends_on_video_dimension_and_seed_only():
    assert prompt_index("abc", "short", 0) == prompt_index("abc", "short", 0)
    used = {prompt_index(v, "detailed", 0) for v in IDS}
    assert len(used) == 24  # 200 ids cover the whole list
    assert [prompt_index(v, "short", 0) for v in IDS] != [prompt_index(v, "short", 1) for v in IDS]
    assert [prompt_index(v, "short", 0) for v in IDS] != [prompt_index(v, "camera", 0) for v in IDS]


def _indices(ids: list[str]) -> dict[str, int]:
    return {v: prompt_index(v, "background", 7) for v in ids}


def test_same_prompt_with_one_and_two_processes_and_any_order():
    one = _indices(IDS)
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        halves = list(pool.map(_indices, [IDS[0::2], list(reversed(IDS[1::2]))]))
    assert {**halves[0], **halves[1]} == one


def test_choice_is_independent_of_python_hash_randomisation():
    code = "from vdc_bench.dataset.prompts import prompt_index; print([prompt_index(f'v{i}', 'camera', 3) for i in range(50)])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(outs) == 1
    assert outs.pop().strip() == str([prompt_index(f"v{i}", "camera", 3) for i in range(50)])


def test_docs_carry_the_chosen_prompt_and_settings(tmp_path):
    root = write_root(tmp_path / "r", "post_eval")
    for mode in ("hash", "canonical"):
        for doc in load_dimension(root, "camera", DataSettings(prompt_seed=5, prompt_mode=mode)).docs:
            index, prompt = choose_prompt(doc["video_id"], "camera", 5, mode)
            assert (doc["prompt_index"], doc["prompt"], doc["prompt_seed"], doc["prompt_mode"]) == (index, prompt, 5, mode)
