"""The demo's time split: setup timings read back, captioning = sweep less judging, printed and written."""

from __future__ import annotations

import json

import pytest

from vdc_bench.commands.demo_timing import read_setup_times, summary_lines, time_split, write_timing
from vdc_bench.errors import VdcBenchError
from vdc_bench.judge.llama_log import PromptCacheStats

SETUP = {"wall_s": 100.0, "steps_s": {"venv": 60.0, "judge runtime": 90.0, "judge model": 10.0}}
JUDGE = PromptCacheStats(requests=4, prompt_tokens_evaluated=300, prompt_tokens_reused=700, generated_tokens=40,
                         prompt_eval_s=20.0, generation_s=5.0)
LOAD = {"start": [0.5, 0.4, 0.3], "end": [1.0, 0.8, 0.5]}


def test_split_and_lines(tmp_path):
    split = time_split(SETUP, {"prepare": 10.0, "sweep": 200.0, "report": 5.0}, 150.0, JUDGE, LOAD)
    assert split["demo"] == {"prepare_s": 10.0, "captioning_s": 50.0, "judging_s": 150.0, "report_s": 5.0,
                             "total_s": 215.0}
    assert split["total_s"] == 315.0 and split["judge_server"]["prefix_reuse_rate"] == 0.7
    lines = summary_lines(split)
    assert lines[0].startswith("[demo] time: setup 100 s (venv 60 s, judge runtime 90 s, judge model 10 s)")
    assert "captioning 50 s | judging 150 s" in lines[0] and "total 315 s (5.2 min)" in lines[0]
    assert "70% reused from the KV cache" in lines[1]
    assert json.loads(write_timing(tmp_path, split).read_text()) == split


def test_without_setup_times_the_demo_says_so():
    split = time_split(None, {"prepare": 1.0, "sweep": 2.0, "report": 1.0}, 0.0, None, LOAD)
    assert split["setup"] is None and split["total_s"] == 4.0
    assert "setup not measured" in summary_lines(split)[0]


def test_unreadable_setup_times_name_the_file(tmp_path):
    assert read_setup_times(None) is None
    bad = tmp_path / "t.json"
    bad.write_text('{"steps_s": {}}')
    with pytest.raises(VdcBenchError, match="t.json: no 'wall_s'"):
        read_setup_times(bad)
    with pytest.raises(VdcBenchError, match="cannot read"):
        read_setup_times(tmp_path / "missing.json")
