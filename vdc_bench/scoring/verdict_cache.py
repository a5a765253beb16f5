"""Persistent cache of judge replies (SQLite, WAL), written as each reply arrives.

Keyed by everything that determines a reply: judge model, protocol (name + prompt hash), the full
messages, the sampling parameters and the response format. A killed run therefore resumes without
repeating a call, and re-scoring from a warm cache makes no call at all. Never stores API keys or
URLs (neither is part of the key or the row).

Safe for several threads (one connection per thread) and several processes (WAL + busy timeout).
Only successful HTTP replies are stored; failed calls are retried by the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from vdc_bench.cache_root import cache_root
from vdc_bench.errors import VdcBenchError

CACHE_ENV = "VDC_VERDICT_CACHE"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    model TEXT NOT NULL,
    protocol TEXT NOT NULL,
    created REAL NOT NULL
)
"""


_LOCK_WAIT_S = 60.0


def _initialise(conn: sqlite3.Connection) -> None:
    """Switch to WAL and create the schema, waiting out other processes that hold the file.

    SQLite answers "database is locked" at once, without its busy handler, when this connection
    would have to upgrade a read lock while another connection is writing (it avoids a deadlock).
    That happens when two runs open a new cache together, so those statements retry until
    ``_LOCK_WAIT_S``.
    """
    deadline = time.monotonic() + _LOCK_WAIT_S
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def default_cache_path() -> Path:
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else cache_root() / "verdicts.sqlite"


def request_key(
    model: str,
    protocol: str,
    messages: list[dict[str, str]],
    sampling: dict[str, Any],
    response_format: dict[str, Any] | None,
) -> str:
    payload = {
        "model": model,
        "protocol": protocol,
        "messages": messages,
        "sampling": sampling,
        "response_format": response_format,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class VerdictCache:
    """``get``/``put`` of raw judge replies by request key. ``path=None`` disables caching."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._local = threading.local()
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn()  # create the schema and fail early on an unwritable or held file
            except (OSError, sqlite3.Error) as exc:
                raise VdcBenchError(
                    f"verdict cache {self.path} cannot be opened: {exc} (choose another with --cache or "
                    f"${CACHE_ENV}, or run with --no-cache)"
                ) from exc

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit: every put is its own transaction, durable when the process is killed.
            conn = sqlite3.connect(str(self.path), timeout=_LOCK_WAIT_S, isolation_level=None)
            _initialise(conn)
            self._local.conn = conn
        return conn

    def get(self, key: str) -> str | None:
        if self.path is None:
            return None
        row = self._conn().execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, reply: str, model: str, protocol: str) -> None:
        if self.path is None:
            return
        # First writer wins: with a deterministic judge concurrent writers store the same reply.
        self._conn().execute(
            "INSERT OR IGNORE INTO replies (key, reply, model, protocol, created) VALUES (?, ?, ?, ?, ?)",
            (key, reply, model, protocol, time.time()),
        )

    def count(self) -> int:
        if self.path is None:
            return 0
        return int(self._conn().execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
