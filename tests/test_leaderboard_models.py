"""Leaderboard rows for any model: a scores JSON on its own, stated frames/tokens, and ranking only
within one judge and protocol."""

from __future__ import annotations

import json
import re

import pytest
from vdc_fixtures import IDS, write_root

from vdc_bench.cli import main
from vdc_bench.dataset.dimensions import DIMENSIONS
from vdc_bench.leaderboard.board import load_board
from vdc_bench.leaderboard.published import PUBLISHED_JUDGE


@pytest.fixture
def scores_file(tmp_path, scoring_stub, monkeypatch):
    """``vdc-bench score`` of a plain caption JSONL (no lmms-eval run anywhere), judged by the stub."""
    server = scoring_stub()
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("VDC_JUDGE_MODEL", "stub-judge")
    root = write_root(tmp_path / "root", "post_eval")
    captions = tmp_path / "preds" / "captions.jsonl"
    captions.parent.mkdir()
    captions.write_text("".join(json.dumps({"video_id": v, "dimension": d, "caption": f"{d} caption of {v}"}) + "\n"
                                for d in DIMENSIONS for v in IDS))
    assert main(["score", str(captions), "--root", str(root), "--quiet", "--no-cache"]) == 0
    return tmp_path / "preds" / "vdcscore" / "vdcscore_scores.json"


def _tables(markdown: str) -> dict[str, list[tuple[int, str]]]:
    """``{section title: [(rank, model), ...]}`` of the rendered Markdown."""
    out: dict[str, list[tuple[int, str]]] = {}
    title = None
    for line in markdown.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif re.match(r"^\| \d+ \|", line):
            cells = [c.strip() for c in line.split("|")]
            out.setdefault(title, []).append((int(cells[1]), cells[2]))
    return out


def test_scores_file_alone_needs_a_name_and_keeps_stated_frames(scores_file, tmp_path, capsys):
    board = tmp_path / "board" / "leaderboard.json"
    assert main(["leaderboard", "--board", str(board), "add", str(scores_file)]) == 2
    assert "pass --name MODEL" in capsys.readouterr().err
    assert main(["leaderboard", "--board", str(board), "add", str(scores_file), "--name", "Some-VLM-7B",
                 "--frames", "16", "--tokens-per-frame", "196"]) == 0
    scores = json.loads(scores_file.read_text())
    (row,) = [e for e in load_board(board) if e.kind != "published"]
    assert (row.model, row.kind, row.frames, row.tokens_per_frame, row.tokens_per_frame_kind) == (
        "Some-VLM-7B", "run", 16, 196.0, "nominal")
    assert row.judge_model == "stub-judge" and row.protocol.startswith(scores["protocol"]["name"])
    assert row.average.acc == scores["vdcscore"]["acc"] and row.dimensions["short"].score == scores["dimensions"]["short"]["score"]
    assert any("not comparable with published rows" in f for f in row.flags)
    # Adding it again replaces the row.
    assert main(["leaderboard", "--board", str(board), "add", str(scores_file), "--name", "Some-VLM-7B"]) == 0
    assert "0 added, 1 replaced" in capsys.readouterr().out


def test_rows_are_ranked_only_within_their_judge_and_protocol(scores_file, tmp_path):
    board = tmp_path / "board" / "leaderboard.json"
    assert main(["leaderboard", "--board", str(board), "add", str(scores_file), "--name", "Some-VLM-7B"]) == 0
    assert main(["leaderboard", "--board", str(board), "render"]) == 0
    tables = _tables((board.parent / "leaderboard.md").read_text())
    titles = list(tables)
    assert len(titles) == 2 and titles[0].startswith(f"Judge {PUBLISHED_JUDGE} ·")
    assert len(tables[titles[0]]) == 43 and "Some-VLM-7B" not in [m for _, m in tables[titles[0]]]
    assert titles[1].startswith("Judge stub-judge · protocol vdcscore-v1") and tables[titles[1]] == [(1, "Some-VLM-7B")]
    html = (board.parent / "leaderboard.html").read_text()
    assert html.count("<h2>Judge ") == 2 and html.count('<tr class="run">') == 1


def test_a_file_that_is_not_a_scores_json_is_refused(tmp_path, capsys):
    bogus = tmp_path / "vdcscore_scores.json"
    bogus.write_text(json.dumps({"hello": 1}))
    assert main(["leaderboard", "--board", str(tmp_path / "b.json"), "add", str(bogus), "--name", "x"]) == 2
    assert "not a vdc-bench scores file" in capsys.readouterr().err


def test_a_moved_sweep_folder_keeps_its_rows_ids(tmp_path):
    from vdc_bench.leaderboard.from_runs import moved_sweep_path, stable_id

    results = tmp_path / "now" / "ratio_0.4" / "ckpt" / "20260101_000000_results.json"
    results.parent.mkdir(parents=True)
    results.write_text("{}")
    recorded = "runs/then/ratio_0.4/ckpt/20260101_000000_results.json"  # where the sweep ran, gone since
    moved = moved_sweep_path(recorded, tmp_path / "now")
    assert moved == str(results)
    assert stable_id("demo", moved).startswith("demo:sha256:")
    assert moved_sweep_path("runs/then/other/x.json", tmp_path / "now") == "runs/then/other/x.json"
