"""Batch mode: request files exported round by round, run by a stand-in for vLLM's run_batch (each request
sent to the stub judge, output lines in the OpenAI/vLLM batch output format), imported into the verdict
cache; the verdicts and scores equal online mode's."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from vdc_bench.cli import main
from vdc_bench.records import ScoresDocument
from vdc_bench.scoring.score_files import AUDIT_NAME, SCORES_NAME

QA = [{"question": f"What is near the {thing}?", "answer": answer, "category": "object"}
      for thing, answer in (("car", "a lake"), ("dog", "a ball"), ("bus", "a shop"))]


def _samples(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for n, (dim, video) in enumerate((d, v) for d in ("camera", "short") for v in range(3)):
            record = {"video_id": f"video{video}", "dimension": dim, "failed": False, "error": None, "qa": QA,
                      "caption": f"A red car {video} waits near a lake while a dog chases a ball past a {dim} shop."}
            fh.write(json.dumps({"doc_id": n, "vdc_acc": record}) + "\n")
    return path


def _run_batch(requests: list[Path], stub_url: str, out: Path, fail: int | None = None) -> Path:
    """What ``run_batch`` does: every request line answered in the output format (line ``fail``: an error)."""
    lines = []
    for n, line in enumerate((ln for path in requests for ln in path.read_text().splitlines()), 1):
        request = json.loads(line)
        assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
        assert request["body"]["model"] == "stub" and {"messages", "temperature", "seed", "max_tokens"} <= set(request["body"])
        if n == fail:
            lines.append({"id": f"batch_req_{n}", "custom_id": request["custom_id"], "response": None,
                          "error": {"code": "server_error", "message": "the batch worker died"}})
            continue
        http = urllib.request.Request(f"{stub_url}/chat/completions", data=json.dumps(request["body"]).encode(),
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(http, timeout=30) as reply:
            body = json.loads(reply.read())
        lines.append({"id": f"vllm-{n}", "custom_id": request["custom_id"],
                      "response": {"status_code": 200, "request_id": f"vllm-batch-{n}", "body": body}, "error": None})
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return out


def _score(samples: Path, cache: Path, *extra: str) -> int:
    return main(["score", str(samples), "--judge-model", "stub", "--cache", str(cache), "--quiet",
                 "--bootstrap-iters", "50", *extra])


def _rounds(samples: Path, cache: Path, stub_url: str, tmp_path: Path) -> list[Path]:
    """Export, run, import until nothing is left to ask; returns the output files."""
    outputs: list[Path] = []
    for n in range(1, 6):
        folder = tmp_path / f"round{n}"
        imports = ["--batch-import", str(outputs[-1])] if outputs else []
        assert _score(samples, cache, "--batch-export", str(folder), *imports) == 0
        assert not (tmp_path / "vdcscore").exists()  # an export writes no scores
        requests = sorted(folder.glob("requests-*.jsonl"))
        if not requests:
            return outputs
        outputs.append(_run_batch(requests, stub_url, tmp_path / f"output{n}.jsonl"))
    raise AssertionError("batch rounds did not converge")


def _audit(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / AUDIT_NAME).read_text().splitlines()]


def test_batch_rounds_give_the_verdicts_and_scores_of_online_mode(scoring_stub, tmp_path, monkeypatch):
    from vdc_bench.scoring import batch_files

    monkeypatch.setattr(batch_files, "MAX_LINES_PER_FILE", 7)  # 18 requests a round: three files
    # The first verdict of every conversation is unparsable: one re-ask each, online and in batch.
    online_stub, batch_stub = (scoring_stub(fault="garbage", fail_first=1) for _ in range(2))
    samples = _samples(tmp_path / "samples.jsonl")
    assert _score(samples, tmp_path / "online.sqlite", "--judge-base-url", online_stub.url,
                  "--output", str(tmp_path / "online")) == 0

    outputs = _rounds(samples, tmp_path / "batch.sqlite", batch_stub.url, tmp_path)
    assert len(outputs) == 3  # call 1, call 2, the re-ask of call 2
    assert [p.name for p in sorted((tmp_path / "round1").iterdir())] == [f"requests-00{n}.jsonl" for n in (1, 2, 3)]
    assert _score(samples, tmp_path / "batch.sqlite", "--batch-import", *map(str, outputs),
                  "--output", str(tmp_path / "batch")) == 0

    assert batch_stub.total_served == online_stub.total_served == 18 * 3  # every request sent once
    assert _audit(tmp_path / "batch") == _audit(tmp_path / "online")
    assert all(j["status"] == "ok" and j["reasks"] == 1 for j in _audit(tmp_path / "batch"))
    online, batch = (ScoresDocument.load(tmp_path / name / SCORES_NAME) for name in ("online", "batch"))
    assert batch.dimensions == online.dimensions and batch.vdcscore == online.vdcscore
    assert batch.judging.failed == 0 and batch.judge.source == "batch"
    assert (online.judge.concurrency, online.judge.extra["concurrency_from"]) == (128, "default for local")
    assert batch.calls.cache_hits == online.calls.succeeded and batch.calls.failed == 0


def test_a_failed_output_line_leaves_its_call_unjudged_and_the_result_flagged(scoring_stub, tmp_path, capsys):
    stub, samples, cache = scoring_stub(), _samples(tmp_path / "samples.jsonl"), tmp_path / "batch.sqlite"
    assert _score(samples, cache, "--batch-export", str(tmp_path / "round1")) == 0
    output = _run_batch(sorted((tmp_path / "round1").glob("requests-*.jsonl")), stub.url, tmp_path / "out1.jsonl",
                        fail=4)
    capsys.readouterr()
    assert _score(samples, cache, "--batch-import", str(output), "--output", str(tmp_path / "scores")) == 1
    assert "not a VDCscore" in capsys.readouterr().err
    failed = [j for j in _audit(tmp_path / "scores") if j["status"] != "ok"]
    assert len(failed) == 18  # call 2 of every QA is still to be asked
    worker_died = [j for j in failed if "worker died" in j["error"]]
    assert len(worker_died) == 1 and f"{output}:4" in worker_died[0]["error"]
    assert ScoresDocument.load(tmp_path / "scores" / SCORES_NAME).judging.judge_failed == 18
    # The failed call is asked again in the next round, beside the call-2 requests.
    assert _score(samples, cache, "--batch-import", str(output), "--batch-export", str(tmp_path / "round2")) == 0
    (requests,) = sorted((tmp_path / "round2").glob("requests-*.jsonl"))
    assert len(requests.read_text().splitlines()) == 17 + 1


def test_a_malformed_output_line_is_one_error_naming_file_and_line(tmp_path, capsys):
    samples = _samples(tmp_path / "samples.jsonl")
    good = {"id": "1", "custom_id": "0" * 64, "response": {"status_code": 200, "request_id": "r", "body": {
        "choices": [{"message": {"role": "assistant", "content": "hi"}}]}}, "error": None}
    for bad, why in (("{not json", "not JSON"), (json.dumps({**good, "custom_id": "request-1"}), "custom_id"),
                     (json.dumps({**good, "response": None}), "needs a 'response' or an 'error'")):
        output = tmp_path / "out.jsonl"
        output.write_text(json.dumps(good) + "\n" + bad + "\n")
        capsys.readouterr()
        assert _score(samples, tmp_path / "c.sqlite", "--batch-import", str(output)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{output}:2: " in err[0] and why in err[0], err


def test_batch_options_are_checked_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VDC_JUDGE_MODEL", raising=False)
    samples = _samples(tmp_path / "samples.jsonl")
    assert main(["score", str(samples), "--batch-export", str(tmp_path / "r")]) == 2
    assert "--judge-model" in capsys.readouterr().err
    assert _score(samples, tmp_path / "c.sqlite", "--batch-export", str(tmp_path / "r"), "--no-cache") == 2
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "requests-001.jsonl").write_text("")
    capsys.readouterr()
    assert _score(samples, tmp_path / "c.sqlite", "--batch-export", str(tmp_path / "r")) == 2
    assert "already holds batch request files" in capsys.readouterr().err


def test_every_failure_shape_of_the_output_formats_is_a_failure_naming_file_and_line(tmp_path):
    from vdc_bench.scoring.batch_files import read_outputs

    def completion(text):
        return {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": {"prompt_tokens": 7}}

    lines = [  # (custom_id, response, error)
        ("a", {"status_code": 400, "request_id": "r"}, "Bad request: too long"),  # vLLM run_batch
        ("b", None, {"code": "server_error", "message": "worker died"}),  # OpenAI error file
        ("c", {"status_code": 429, "request_id": "r", "body": {"error": {"message": "slow down"}}}, None),
        ("d", {"status_code": 200, "request_id": "r", "body": completion("  ")}, None),  # empty: a glitch
        ("e", {"status_code": 200, "request_id": "r", "body": {"object": "list"}}, None),
        ("f", None, {"message": "lost"}),
        ("f", {"status_code": 200, "request_id": "r", "body": completion("yes")}, None),  # answered after all
    ]
    output = tmp_path / "out.jsonl"
    output.write_text("".join(json.dumps({"id": str(n), "custom_id": key * 64, "response": response, "error": error})
                              + "\n" for n, (key, response, error) in enumerate(lines)))
    batch = read_outputs([output])
    assert batch.replies == {"f" * 64: ("yes", 7, 0)}
    assert batch.failures == {
        "a" * 64: f"{output}:1: error: Bad request: too long", "b" * 64: f"{output}:2: error: worker died",
        "c" * 64: f"{output}:3: HTTP 429: slow down", "d" * 64: f"{output}:4: empty reply",
        "e" * 64: f"{output}:5: no chat completion in 'response.body'"}
