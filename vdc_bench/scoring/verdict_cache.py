"""Persistent cache of judge replies (SQLite, WAL), written as each reply arrives.

Keyed by everything that determines a reply: judge model, protocol (name + prompt hash), the full
messages, the sampling parameters and the response format. A killed run therefore resumes without
repeating a call, and re-scoring from a warm cache makes no call at all. Never stores API keys or
URLs (neither is part of the key or the row).

Safe for several threads (one connection per thread) and several processes on one machine (WAL + busy
timeout). Not on a network filesystem: WAL's shared index lives in memory of one machine and NFS-style
locking is unreliable, so a cache there is refused (unless ``VDC_VERDICT_CACHE_ON_NETWORK=1``).
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
NETWORK_OK_ENV = "VDC_VERDICT_CACHE_ON_NETWORK"  # "1": use a cache on a network filesystem anyway
MOUNTS = Path("/proc/mounts")
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
    "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.cephfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.davfs",
})
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


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash in paths as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_of(path: Path, mounts: Path = MOUNTS) -> tuple[str, str] | None:
    """(mount point, filesystem type) of the mount holding ``path`` (the longest matching mount point), or
    None when the mounts table cannot be read."""
    try:
        table = mounts.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = Path(os.path.abspath(path)).resolve()
    best: tuple[str, str] | None = None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        if (target == Path(point) or Path(point) in target.parents) and (best is None or len(point) >= len(best[0])):
            best = (point, fields[2])
    return best


def check_local_filesystem(path: Path, mounts: Path = MOUNTS) -> None:
    """Refuse a cache file on a network filesystem (one line naming the path and the way out)."""
    found = filesystem_of(path, mounts)
    if found is None or found[1] not in NETWORK_FILESYSTEMS or os.environ.get(NETWORK_OK_ENV, "").strip() == "1":
        return
    point, fstype = found
    raise VdcBenchError(
        f"verdict cache {path} is on a network filesystem ({fstype} mounted at {point}), where SQLite's locking "
        f"and WAL are unsafe: put it on a local disk with --cache or ${CACHE_ENV} (e.g. /tmp/verdicts.sqlite), "
        f"or set {NETWORK_OK_ENV}=1 if only processes on this one node use it"
    )


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

    def __init__(self, path: Path | str | None, mounts: Path = MOUNTS) -> None:
        self.path = Path(path) if path is not None else None
        self._local = threading.local()
        if self.path is not None:
            check_local_filesystem(self.path, mounts)
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


def merge_caches(sources: list[Path], into: Path) -> dict[str, int]:
    """Copy every reply of the ``sources`` caches (e.g. one per scoring node) into the cache ``into`` (created
    if missing, on a local disk). First writer wins: a key ``into`` already holds keeps its reply; a source reply
    that differs from it (a judge sampled at temperature > 0) is counted as a conflict, never silently swapped."""
    target = VerdictCache(into)
    conn = target._conn()
    counts = {"sources": len(sources), "added": 0, "conflicts": 0}
    try:
        for source in sources:
            if not Path(source).is_file():
                raise VdcBenchError(f"{source}: no verdict cache there")
            if Path(source).resolve() == Path(into).resolve():
                raise VdcBenchError(f"{source}: is the cache merged into (--into)")
            try:
                conn.execute("ATTACH DATABASE ? AS src", (str(source),))
            except sqlite3.DatabaseError as exc:
                raise VdcBenchError(f"{source}: not a verdict cache ({exc})") from exc
            try:
                try:
                    conflicts = conn.execute(
                        "SELECT COUNT(*) FROM src.replies AS s JOIN main.replies AS m ON s.key = m.key "
                        "WHERE s.reply != m.reply").fetchone()[0]
                except sqlite3.DatabaseError as exc:
                    raise VdcBenchError(f"{source}: not a verdict cache ({exc})") from exc
                before = target.count()
                conn.execute("INSERT OR IGNORE INTO main.replies SELECT key, reply, model, protocol, created "
                             "FROM src.replies")
                counts["added"] += target.count() - before
                counts["conflicts"] += int(conflicts)
            finally:
                conn.execute("DETACH DATABASE src")
    finally:
        target.close()
    return counts
