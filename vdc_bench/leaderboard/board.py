"""Load, seed, update and save ``results/leaderboard.json`` (schema in ``schema.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.errors import VdcBenchError
from vdc_bench.leaderboard.published import published_entries
from vdc_bench.leaderboard.schema import SCHEMA_VERSION, Entry, board_from_dict

DEFAULT_BOARD = Path("results") / "leaderboard.json"


def load_board(path: Path) -> list[Entry]:
    """Entries of an existing board file (validated), or the published seed if the file does not exist."""
    if not path.exists():
        return published_entries()
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise VdcBenchError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from err
    return board_from_dict(raw, str(path))


def save_board(path: Path, entries: list[Entry]) -> None:
    # Validate what we are about to write, so a bad entry never reaches the file.
    document = {"schema_version": SCHEMA_VERSION, "entries": [e.to_dict() for e in entries]}
    board_from_dict(json.loads(json.dumps(document)), str(path))
    atomic_write_text(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def upsert(entries: list[Entry], new: list[Entry]) -> tuple[list[Entry], int, int]:
    """Replace entries with the same id, append the others. Returns (entries, added, replaced)."""
    index = {e.id: i for i, e in enumerate(entries)}
    out = list(entries)
    added = replaced = 0
    for entry in new:
        if entry.id in index:
            out[index[entry.id]] = entry
            replaced += 1
        else:
            index[entry.id] = len(out)
            out.append(entry)
            added += 1
    return out, added, replaced


def reseed_published(entries: list[Entry]) -> list[Entry]:
    """Refresh the published rows from the CSV copies, keeping our own rows."""
    ours = [e for e in entries if e.kind != "published"]
    return published_entries() + ours
