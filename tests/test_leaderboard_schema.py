"""Leaderboard: published seed with consistency flags, and schema validation naming the bad field."""

from __future__ import annotations

import copy
import json

import pytest

from vdc_bench.cli import main
from vdc_bench.leaderboard.board import load_board, save_board
from vdc_bench.leaderboard.published import published_entries
from vdc_bench.leaderboard.schema import LeaderboardSchemaError, board_from_dict, entry_from_dict


def _by_model():
    return {e.model: e for e in published_entries()}


def test_published_rows_are_kept_as_published_and_flagged():
    rows = _by_model()
    assert len(rows) == 43
    aurora = rows["AuroraCap-7B"]
    assert (aurora.average.acc, aurora.average.score) == (38.21, 1.98)  # the published value, not corrected
    assert round(aurora.computed_average.acc, 2) == 38.36
    flags = " | ".join(aurora.flags)
    assert "avg acc 38.21 is not the mean" in flags
    assert "camera = rho 0.6, short = rho 0.5, background = rho 0.4, main_object = rho 0.2, detailed = rho 0.2" in flags
    assert "tokens_per_frame 224 is nominal" in flags
    assert (aurora.frames, aurora.tokens_per_frame, aurora.tokens_per_frame_kind) == (10, 224, "nominal")
    assert any("equals the camera entry" in f for f in rows["LLaVA-1.6-7B"].flags)
    assert any("37.16" in f for f in rows["Apollo"].flags)
    assert any("39.05" in f for f in rows["LLaVA-Video-7B"].flags)
    assert rows["Tarsier-7B"].computed_average is None and rows["Tarsier-7B"].flags
    # Differences within rounding of the published decimals are not flagged (47.7 vs 47.74).
    assert rows["AVC-DPO-7B"].flags == []
    flagged = {m for m, e in rows.items() if e.flags}
    assert flagged == {"AuroraCap-7B", "LLaVA-1.6-7B", "Apollo", "LLaVA-Video-7B", "Tarsier-7B"}
    assert all(e.judge_model == "Llama-3.1-8B" and e.kind == "published" for e in rows.values())
    assert "rese1f/aurora-web" in aurora.source


def test_entries_round_trip_through_the_file(tmp_path):
    board = tmp_path / "leaderboard.json"
    save_board(board, published_entries())
    again = load_board(board)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in published_entries()]


def _valid() -> dict:
    return _by_model()["AuroraCap-7B"].to_dict()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["dimensions"]["camera"].update(acc="43.5"), "dimensions.camera.acc"),
        (lambda d: d["dimensions"]["short"].update(score=7.2), "dimensions.short.score"),
        (lambda d: d["dimensions"].pop("detailed"), "dimensions.detailed"),
        (lambda d: d["dimensions"].update(objects={"acc": 1, "score": 1}), "dimensions.objects"),
        (lambda d: d.pop("judge_model"), "judge_model"),
        (lambda d: d.update(kind="guess"), "kind"),
        (lambda d: d.update(frames=0), "frames"),
        (lambda d: d.update(frames=True), "frames"),
        (lambda d: d.update(date="03/07/2025"), "date"),
        (lambda d: d.update(flags="none"), "flags"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["average"].update(acc_ci=[40, 30]), "average.acc_ci"),
        (lambda d: d.update(kind="demo", note=""), "note"),
        (lambda d: d.update(tokens_per_frame_kind="guessed"), "tokens_per_frame_kind"),
    ],
)
def test_bad_entry_is_rejected_with_the_field_named(edit, field):
    raw = copy.deepcopy(_valid())
    edit(raw)
    with pytest.raises(LeaderboardSchemaError, match=rf"field '{field}'"):
        entry_from_dict(raw, "entries[3]")


def test_duplicate_ids_and_schema_version_are_checked():
    entry = _valid()
    with pytest.raises(LeaderboardSchemaError, match="field 'id' duplicates"):
        board_from_dict({"schema_version": 1, "entries": [entry, entry]}, "board.json")
    with pytest.raises(LeaderboardSchemaError, match="field 'schema_version'"):
        board_from_dict({"schema_version": 9, "entries": []}, "board.json")


def test_cli_reports_a_bad_board_in_one_line(tmp_path, capsys):
    board = tmp_path / "leaderboard.json"
    save_board(board, published_entries())
    doc = json.loads(board.read_text())
    doc["entries"][5]["dimensions"]["camera"]["acc"] = 140
    board.write_text(json.dumps(doc))
    assert main(["leaderboard", "--board", str(board), "validate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "entries[5]" in err and "field 'dimensions.camera.acc'" in err and "[0.0, 100.0]" in err
