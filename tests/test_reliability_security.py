"""No API key in anything the suite writes; judge replies are data; judges listen on loopback."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doubles import stub_judge_server
from vdc_bench.cli import build_parser
from vdc_bench.judge import engines, server
from vdc_bench.runs.lmms_runner import run_lmms_eval
from vdc_bench.scoring import reply_parser
from vdc_bench.scoring.caption_records import CaptionItem, QAPair
from vdc_bench.scoring.judge_settings import JudgeSettings
from vdc_bench.scoring.protocol import load_protocol
from vdc_bench.scoring.scorer import judge_items
from vdc_bench.scoring.verdict_cache import VerdictCache

SECRET = "sk-planted-9f3c2e-NEVER-WRITE-ME-71d0"
SCORING_PACKAGE = Path(reply_parser.__file__).resolve().parent


def files_containing(roots: list[Path], needle: bytes) -> list[str]:
    hits, n_files = [], 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                n_files += 1
                if needle in path.read_bytes():
                    hits.append(str(path))
    assert n_files > 0
    return hits


@pytest.mark.slow
def test_planted_key_appears_in_no_written_file(scoring_stub, tmp_path):
    """An lmms-eval run (vdc_demo, oracle captions, DEBUG logging, judged at aggregation) and ``vdc-bench
    score`` on its output, with the key in OPENAI_API_KEY: results, samples, scores, audit, table, logs and
    the verdict cache are all grepped for it, as are stdout/stderr."""
    stub = scoring_stub()
    env = {"VDC_JUDGE_BASE_URL": stub.url, "VDC_JUDGE_MODEL": "stub", "OPENAI_API_KEY": SECRET,
           "VDC_VERDICT_CACHE": str(tmp_path / "cache" / "verdicts.sqlite")}
    (tmp_path / "logs").mkdir()
    run_lmms_eval("vdc_oracle", "", ["vdc_demo"], tmp_path / "lmms", env=env, limit=1, log_samples=True,
                  log_path=tmp_path / "logs" / "lmms_eval.log", extra_args=["--verbosity", "DEBUG"])
    scored = subprocess.run(
        [sys.executable, "-m", "vdc_bench", "score", str(tmp_path / "lmms"), "--output", str(tmp_path / "scored"),
         "--judge-api-key", SECRET, "--bootstrap-iters", "100"],
        env={**os.environ, **env}, capture_output=True, timeout=300,
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    (tmp_path / "logs" / "score.log").write_bytes(scored.stdout + scored.stderr)
    assert stub.total_attempts > 0  # the key was really sent: the judge was called
    assert json.loads((tmp_path / "scored" / "vdcscore_scores.json").read_text())["calls"]["cache_hits"] > 0
    roots = [tmp_path, Path(os.environ["HF_HOME"])]
    assert files_containing(roots, SECRET.encode()) == []


def test_judge_replies_are_data_and_size_limited_before_parsing(scoring_stub, tmp_path, monkeypatch):
    """A 20 MB reply with code in it, served by the judge: nothing is executed, parsing only ever sees the
    first MAX_REPLY_CHARS characters (a verdict after them is not found), and the QA is parse_failed."""
    marker = tmp_path / "PWNED"
    payload = f"{{'pred': __import__('pathlib').Path({str(marker)!r}).touch() or 'yes', 'score': 5}} "
    huge = payload + " " * (20 * 1024 * 1024) + "{'pred': 'yes', 'score': 5}"
    monkeypatch.setattr(stub_judge_server, "reply_for", lambda body: huge)  # the stub's thread looks it up per call
    stub = scoring_stub()
    items = [CaptionItem("short", "v1", "A cat.", (QAPair("What?", "a cat"),))]
    settings = JudgeSettings(base_url=stub.url, model="stub", reasks=1, timeout_s=60)
    started = time.monotonic()
    outcome = judge_items(items, settings, load_protocol(), VerdictCache(None), progress=False)
    judgement = outcome.judgements[0]
    assert judgement.status == "parse_failed" and judgement.pred is None
    assert not marker.exists()
    assert time.monotonic() - started < 60
    assert reply_parser.parse_verdict(huge) is None  # the trailing valid verdict is beyond the limit
    assert reply_parser.parse_verdict(payload) is None  # literals only: a call is not a literal
    assert reply_parser.parse_verdict(huge[-40:]) is not None


def test_no_eval_or_exec_in_the_scoring_code():
    calls = re.compile(r"(?<![\w.])(eval|exec)\s*\(")
    offenders = [f"{p.name}:{n}" for p in SCORING_PACKAGE.glob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1) if calls.search(line)]
    assert offenders == []


def test_judge_servers_bind_loopback_by_default():
    assert server.LOOPBACK == "127.0.0.1"
    assert inspect.signature(engines.embedded_spec).parameters["host"].default == "127.0.0.1"
    for engine in ("vllm", "sglang"):
        command = engines.engine_command(engines.EngineOptions(engine))
        assert command[command.index("--host") + 1] == "127.0.0.1"
    serve = build_parser().parse_args(["judge", "serve"])
    assert serve.host == "127.0.0.1"
    assert stub_judge_server.StubJudgeServer().host == "127.0.0.1"
