"""Verdict cache: hits and misses, warm re-score with zero calls, resume after a killed run, threads."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vdc_bench.errors import VdcBenchError
from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache, request_key

DIMS = ("camera", "short")


def make_items(n_videos: int, n_qa: int) -> list[CaptionItem]:
    return [
        CaptionItem(d, f"vid{v:03d}", f"The {d} caption of video {v}: a dog runs along a beach at sunset, camera pans left.",
                    tuple(QAPair(f"Question {i} about video {v}?", f"answer {i}") for i in range(n_qa)))
        for d in DIMS for v in range(n_videos)
    ]


def write_samples(path: Path, items: list[CaptionItem]) -> Path:
    with path.open("w") as fh:
        for n, item in enumerate(items):
            rec = {"video_id": item.video_id, "dimension": item.dimension, "caption": item.caption,
                   "qa": [{"question": q.question, "answer": q.answer, "category": ""} for q in item.qa],
                   "failed": False, "error": None}
            fh.write(json.dumps({"doc_id": n, "vdc_acc": rec, "vdc_score": rec}) + "\n")
    return path


def settings(url: str, **kw) -> JudgeSettings:
    return JudgeSettings(base_url=url, model="stub", **{"concurrency": 8, **kw})


def test_key_covers_model_protocol_messages_and_sampling():
    msgs = [{"role": "user", "content": "hi"}]
    base = request_key("m", "p", msgs, {"temperature": 0.0, "seed": 1}, None)
    assert base == request_key("m", "p", [dict(m) for m in msgs], {"seed": 1, "temperature": 0.0}, None)
    assert base != request_key("m2", "p", msgs, {"temperature": 0.0, "seed": 1}, None)
    assert base != request_key("m", "p2", msgs, {"temperature": 0.0, "seed": 1}, None)
    assert base != request_key("m", "p", [{"role": "user", "content": "hi "}], {"temperature": 0.0, "seed": 1}, None)
    assert base != request_key("m", "p", msgs, {"temperature": 1.0, "seed": 1}, None)
    assert base != request_key("m", "p", msgs, {"temperature": 0.0, "seed": 1}, {"type": "json_schema"})


def test_warm_rescore_makes_zero_calls(scoring_stub, tmp_path):
    server = scoring_stub()
    items = make_items(3, 4)
    cache = VerdictCache(tmp_path / "v.sqlite")
    cold = judge_items(items, settings(server.url), load_protocol(), cache, progress=False)
    calls = server.total_attempts
    assert calls == 2 * len(items) * 4 and cold.calls.succeeded == calls and cold.calls.cache_hits == 0
    warm = judge_items(items, settings(server.url), load_protocol(), cache, progress=False)
    assert server.total_attempts == calls  # nothing reached the server
    assert warm.calls.cache_hits == calls and warm.calls.http_attempts == 0
    assert [j.as_dict() for j in warm.judgements] == [j.as_dict() for j in cold.judgements]
    # A different sampling setting is a different question: all misses.
    judge_items(items, settings(server.url, temperature=1.0), load_protocol(), cache, progress=False)
    assert server.total_attempts == 2 * calls


def test_cache_is_safe_from_many_threads(tmp_path):
    cache = VerdictCache(tmp_path / "t.sqlite")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(200):
                cache.put(f"k{i}", f"reply {i}", "m", "p")  # same keys from every thread: first writer wins
                assert cache.get(f"k{i}") == f"reply {i}"
                cache.put(f"t{t}-{i}", "x", "m", "p")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert cache.count() == 200 + 6 * 200


def _scores(doc: dict) -> dict:
    return {k: doc[k] for k in ("dimensions", "vdcscore", "counts", "protocol")}


def test_killed_run_resumes_without_repeating_calls(scoring_stub, tmp_path):
    items = make_items(6, 5)
    samples = write_samples(tmp_path / "x_samples_vdc.jsonl", items)
    total_calls = 2 * len(items) * 5
    server = scoring_stub(latency_s=0.02)
    cache_path = tmp_path / "resume.sqlite"

    def cmd(url: str, cache: Path, out: str) -> list[str]:
        return [sys.executable, "-m", "vdc_bench", "score", str(samples), "--judge-base-url", url, "--judge-model",
                "stub", "--concurrency", "4", "--cache", str(cache), "--quiet", "--bootstrap-iters", "200",
                "--output", str(tmp_path / out)]

    proc = subprocess.Popen(cmd(server.url, cache_path, "killed"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while server.total_served < total_calls // 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash: no cleanup, no atexit
    proc.wait()
    assert not (tmp_path / "killed" / "vdcscore_scores.json").exists()
    cached = VerdictCache(cache_path).count()
    assert 0 < cached < total_calls

    time.sleep(0.5)  # let the stub finish the killed client's in-flight requests (20 ms each)
    served_before = server.total_served
    resumed = subprocess.run(cmd(server.url, cache_path, "resumed"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads((tmp_path / "resumed" / "vdcscore_scores.json").read_text())
    assert doc["calls"]["cache_hits"] == cached  # every verdict that arrived before the kill was reused
    assert doc["calls"]["succeeded"] == total_calls - cached
    assert server.total_served - served_before == total_calls - cached
    # Only calls in flight at the kill (at most --concurrency) could reach the server twice.
    assert sum(1 for n in server.served.values() if n > 1) <= 4

    fresh = scoring_stub()
    clean = subprocess.run(cmd(fresh.url, tmp_path / "clean.sqlite", "clean"), capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    clean_doc = json.loads((tmp_path / "clean" / "vdcscore_scores.json").read_text())
    assert _scores(doc) == _scores(clean_doc)
    assert (tmp_path / "resumed" / "vdcscore_audit.jsonl").read_text() == (tmp_path / "clean" / "vdcscore_audit.jsonl").read_text()


def test_judging_from_inside_a_running_event_loop(scoring_stub, tmp_path):
    # lmms-eval or a notebook may call the synchronous entry point while an event loop runs.
    import asyncio

    server = scoring_stub()
    items = make_items(1, 2)

    async def caller():
        return judge_items(items, settings(server.url), load_protocol(), VerdictCache(None), progress=False)

    out = asyncio.run(caller())
    assert [j.status for j in out.judgements] == ["ok"] * 4


def test_two_processes_share_one_cache(scoring_stub, tmp_path):
    server = scoring_stub(latency_s=0.005)
    items = make_items(4, 4)
    samples = write_samples(tmp_path / "p_samples_vdc.jsonl", items)
    cache = tmp_path / "shared.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-m", "vdc_bench", "score", str(samples), "--judge-base-url", server.url,
                          "--judge-model", "stub", "--cache", str(cache), "--quiet", "--bootstrap-iters", "50",
                          "--output", str(tmp_path / f"out{k}")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    for p in procs:
        assert p.wait(120) == 0, p.stderr.read()
    unique_calls = 2 * len(items) * 4
    assert VerdictCache(cache).count() == unique_calls
    audits = [(tmp_path / f"out{k}" / "vdcscore_audit.jsonl").read_text() for k in range(2)]
    assert audits[0] == audits[1]


def test_opening_waits_for_another_writer(tmp_path):
    # SQLite refuses a lock upgrade at once (no busy wait) while another connection writes; two runs
    # opening a new cache together hit exactly that (CI failure of test_two_processes_share_one_cache).
    path = tmp_path / "busy.sqlite"
    writer = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    release.start()
    t0 = time.monotonic()
    cache = VerdictCache(path)
    assert time.monotonic() - t0 >= 0.4  # it waited for the writer instead of failing
    cache.put("k", "reply", "m", "p")
    assert cache.get("k") == "reply"
    release.join()
    writer.close()


def test_unopenable_cache_is_a_clear_error_naming_the_file(tmp_path):
    not_a_db = tmp_path / "cache.sqlite"
    not_a_db.write_text("this is not an SQLite file, " * 100)
    with pytest.raises(VdcBenchError, match=rf"verdict cache {not_a_db} cannot be opened: .*--no-cache"):
        VerdictCache(not_a_db)


def _mounts(tmp_path: Path) -> Path:
    """A mounts table: the test folder on NFS, its subfolder "local disk" (escaped space) on a local disk."""
    mounts = tmp_path / "mounts"
    local = str(tmp_path / "local disk").replace(" ", "\\040")
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nfiler:/export {tmp_path} nfs4 rw,vers=4.2 0 0\n"
                      f"/dev/sdb1 {local} ext4 rw 0 0\n")
    return mounts


def test_a_cache_on_a_network_filesystem_is_refused_naming_path_and_way_out(tmp_path, monkeypatch):
    monkeypatch.delenv("VDC_VERDICT_CACHE_ON_NETWORK", raising=False)
    on_nfs, mounts = tmp_path / "sub" / "verdicts.sqlite", _mounts(tmp_path)
    with pytest.raises(VdcBenchError) as err:
        VerdictCache(on_nfs, mounts=mounts)
    message = str(err.value)
    assert "\n" not in message and f"verdict cache {on_nfs} is on a network filesystem (nfs4 mounted at {tmp_path})" \
        in message and "$VDC_VERDICT_CACHE" in message
    assert not on_nfs.parent.exists()  # refused before anything was created
    # The longest matching mount point decides: a local disk mounted below the NFS folder is fine.
    VerdictCache(tmp_path / "local disk" / "verdicts.sqlite", mounts=mounts).put("k", "reply", "m", "p")
    monkeypatch.setenv("VDC_VERDICT_CACHE_ON_NETWORK", "1")  # explicit override
    VerdictCache(on_nfs, mounts=mounts).put("k", "reply", "m", "p")


def test_per_node_caches_merge_into_one_counting_conflicts(tmp_path, capsys):
    from vdc_bench.cli import main

    a, b, into = (tmp_path / f"{name}.sqlite" for name in ("node1", "node2", "merged"))
    for path, replies in ((a, {"k1": "yes", "k2": "no"}), (b, {"k2": "yes", "k3": "no"})):
        cache = VerdictCache(path)
        for key, reply in replies.items():
            cache.put(key, reply, "m", "p")
        cache.close()
    assert main(["cache", "merge", str(a), str(b), "--into", str(into)]) == 0
    assert "3 replies added, 1 conflicting" in capsys.readouterr().out  # k2 differs: node1's reply stays
    merged = VerdictCache(into)
    assert [merged.get(k) for k in ("k1", "k2", "k3")] == ["yes", "no", "no"] and merged.count() == 3
    assert main(["cache", "merge", str(a), str(b), "--into", str(into)]) == 0
    assert "0 replies added, 1 conflicting" in capsys.readouterr().out
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database " * 100)
    assert main(["cache", "merge", str(junk), "--into", str(into)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{junk}: not a verdict cache" in err[0]
