"""Per-sample side channel from a model adapter to a task's ``process_results``.

lmms-eval hands ``process_results(doc, results)`` only the generated text, and the samples file
never contains the doc. Adapters that measure something per sample (frames, visual tokens,
timings, a per-sample error) record it here under the doc's ``sample_key``; the task's
``process_results`` (same process, same rank) pops it and returns it with the sample.
Thread-safe: lmms-eval runs ``process_results`` in a thread pool. No torch, no scoring imports.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

_LOCK = threading.Lock()
_STATS: dict[str, dict[str, Any]] = {}


def sample_key(doc: Mapping[str, Any]) -> str | None:
    """The doc's stable key, if its task provides one (VDC tasks do: ``"<dimension>/<video_id>"``)."""
    key = doc.get("sample_key") if isinstance(doc, Mapping) else None
    return str(key) if key else None


def record(doc: Mapping[str, Any], stats: Mapping[str, Any]) -> None:
    """Store ``stats`` for ``doc`` (merged over anything stored before). No-op without a key."""
    key = sample_key(doc)
    if key is None:
        return
    with _LOCK:
        _STATS.setdefault(key, {}).update(stats)


def pop(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Remove and return the stats recorded for ``doc`` ({} if none)."""
    key = sample_key(doc)
    if key is None:
        return {}
    with _LOCK:
        return _STATS.pop(key, {})
