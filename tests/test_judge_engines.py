"""vLLM / SGLang launch commands and the "engine not installed" path (no GPU engines here)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from vdc_bench.judge import engines


def test_vllm_command_has_vdcscore_settings():
    cmd = engines.engine_command(engines.EngineOptions("vllm", tp=4, python="/py"))
    assert cmd[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(cmd)
    assert f"--model {engines.PUBLISHED_JUDGE} --served-model-name {engines.PUBLISHED_JUDGE}" in joined
    assert "--host 127.0.0.1 --port 8000" in joined
    assert "--tensor-parallel-size 4" in joined
    assert "--max-model-len 8192" in joined and "--seed 0" in joined


def test_sglang_command_defaults_to_reference_port():
    opts = engines.EngineOptions(
        "sglang", model="/models/llama", tp=2, python="/py", extra_args=("--mem-fraction-static", "0.8")
    )
    cmd = engines.engine_command(opts)
    assert cmd[:3] == ["/py", "-m", "sglang.launch_server"]
    joined = " ".join(cmd)
    assert "--model-path /models/llama --served-model-name /models/llama" in joined
    assert "--port 30000" in joined and "--tp 2" in joined and "--context-length 8192" in joined
    assert cmd[-2:] == ["--mem-fraction-static", "0.8"]


def test_unknown_engine():
    with pytest.raises(engines.VdcBenchError, match="unknown engine 'tgi'"):
        engines.engine_command(engines.EngineOptions("tgi"))


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_engine_not_installed_is_a_clear_error(engine):
    assert not engines.engine_installed(engine, sys.executable)
    with pytest.raises(
        engines.EngineNotInstalled, match=f"{engine} is not installed .*Command that would run"
    ):
        engines.engine_spec(engines.EngineOptions(engine))


def test_cli_engine_not_installed(capsys):
    from vdc_bench.cli import main

    assert main(["judge", "serve", "--engine", "sglang", "--tp", "2"]) == 2
    err = capsys.readouterr().err
    assert "sglang is not installed" in err and "--tp 2" in err


def test_missing_judge_python_named_by_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VDC_JUDGE_PYTHON", str(tmp_path / "nope" / "python"))
    engines.llama_cpp_version.cache_clear()
    with pytest.raises(engines.EngineNotInstalled, match="cannot import llama_cpp.server"):
        engines.ensure_judge_python(log=lambda m: None)


def test_shim_rewrites_openai_json_schema_for_llama_cpp():
    import json

    from vdc_bench.judge.llama_server_shim import translate

    schema = {"type": "object", "properties": {"pred": {"enum": ["yes", "no"]}}}
    body = {
        "model": "m",
        "messages": [],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "v", "strict": True, "schema": schema},
        },
    }
    out = json.loads(translate(json.dumps(body).encode()))
    assert out["response_format"] == {"type": "json_object", "schema": schema}
    assert out["messages"] == [] and out["model"] == "m"
    plain = json.dumps({"model": "m", "response_format": {"type": "json_object"}}).encode()
    assert translate(plain) == plain
    assert translate(b"not json") == b"not json"


def test_shim_answers_a_repeated_request_with_its_first_reply():
    """A retried request must not reach llama.cpp again: its last token, evaluated alone, can change the reply."""
    import asyncio
    import itertools

    from vdc_bench.judge.llama_server_shim import JudgeShim, ReplyMemo

    served = itertools.count(1)
    seen: list[bytes] = []

    async def app(scope, receive, send):  # stands in for llama-cpp-python: every answer differs
        seen.append((await receive())["body"])
        n = next(served)
        status = 500 if b"fail" in seen[-1] else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        if b"stream" in seen[-1]:
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": f"reply {n}".encode(), "more_body": False})

    shim = JudgeShim(app, ReplyMemo(capacity=2))

    def post(body: bytes) -> tuple[int, bytes]:
        sent: list[dict] = []
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive():
            return next(messages)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
        asyncio.run(shim(scope, receive, send))
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    assert post(b'{"q": 1}') == (200, b"reply 1")
    assert post(b'{"q": 1}') == (200, b"reply 1") and len(seen) == 1  # the retry never reached the model
    assert post(b'{"q": 2}') == (200, b"reply 2")
    assert post(b'{"fail": 1}') == (500, b"reply 3") and post(b'{"fail": 1}') == (500, b"reply 4")  # errors retried
    assert post(b'{"stream": 1}') == (200, b"partreply 5") and post(b'{"stream": 1}')[1] == b"partreply 6"
    assert post(b'{"q": 3}') == (200, b"reply 7")  # capacity 2: the oldest reply ({"q": 1}) is forgotten
    assert post(b'{"q": 1}') == (200, b"reply 8")


def test_data_parallel_replicas_use_each_engines_flag():
    vllm = " ".join(engines.engine_command(engines.EngineOptions("vllm", dp=8, python="/py")))
    sglang = " ".join(engines.engine_command(engines.EngineOptions("sglang", tp=2, dp=4, python="/py")))
    assert "--tensor-parallel-size 1 --data-parallel-size 8" in vllm
    assert "--tp 2 --dp-size 4" in sglang
    with pytest.raises(engines.VdcBenchError, match="--dp"):
        engines.engine_command(engines.EngineOptions("vllm", dp=0, python="/py"))


KEY = "sk-test-0123456789abcdef"


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_the_api_key_reaches_the_engine_through_its_environment_only(engine):
    opts = engines.EngineOptions(engine, python="/py", host="0.0.0.0", api_key=KEY)
    assert KEY not in " ".join(engines.engine_command(opts)) and KEY not in repr(opts)
    assert engines.engine_env(opts) == {engines.KEY_ENV[engine]: KEY}
    assert engines.engine_env(dataclasses.replace(opts, api_key=None)) == {}


def test_the_sglang_launcher_adds_the_key_flag_and_masks_the_key_in_what_it_prints(tmp_path):
    cmd = engines.engine_command(engines.EngineOptions("sglang", python=sys.executable, api_key=KEY))
    assert cmd[1:4] == ["-c", engines.SGLANG_WITH_KEY, "sglang.launch_server"]
    (tmp_path / "fake_engine.py").write_text(
        f"import os, sys\nprint(sys.argv[1:-1], sys.argv[-1] == {KEY!r}, 'VDC_ENGINE_API_KEY' in os.environ)\n"
        "print('server_args', sys.argv[1:], file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", cmd[2], "fake_engine", "--port", "1"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tmp_path), "VDC_ENGINE_API_KEY": KEY}, check=True)
    assert done.stdout.strip() == "['--port', '1', '--api-key'] True False"
    assert "'--api-key', '***'" in done.stderr and KEY not in done.stdout + done.stderr


def test_binding_beyond_loopback_without_a_key_is_refused_in_one_line(capsys, monkeypatch):
    from vdc_bench.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["judge", "serve", "--engine", "vllm", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--host 0.0.0.0" in err[0] and "OPENAI_API_KEY" in err[0]


def test_serve_takes_the_key_from_openai_api_key_beyond_loopback_only(monkeypatch):
    from vdc_bench.cli import build_parser
    from vdc_bench.commands import judge as judge_command

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr(engines, "engine_installed", lambda engine, python: True)

    def spec(*argv: str):
        return judge_command._spec(build_parser().parse_args(["judge", "serve", *argv]))

    exposed = spec("--engine", "vllm", "--host", "0.0.0.0")
    assert exposed.env == {"VLLM_API_KEY": KEY} and exposed.api_key == KEY
    assert KEY not in " ".join(exposed.command) and KEY not in repr(exposed)
    assert spec("--engine", "sglang").env == {}  # loopback: no key unless --api-key asks for one
    assert spec("--engine", "sglang", "--api-key", "other").env == {"VDC_ENGINE_API_KEY": "other"}


def test_readiness_checks_send_the_key(monkeypatch):
    from vdc_bench.judge import server

    sent = {}

    def urlopen(request, timeout):
        sent.update(request.headers)
        raise OSError("nothing there")

    monkeypatch.setattr(server.urllib.request, "urlopen", urlopen)
    assert server.served_models("127.0.0.1", 1, api_key=KEY) is None
    assert sent == {"Authorization": f"Bearer {KEY}"}
    sent.clear()
    monkeypatch.setenv("OPENAI_API_KEY", "status-key")  # `judge status` and reuse checks send the variable
    state = server.ServerState(pid=1, host="127.0.0.1", port=1, model="m", engine="vllm", description="d", log="l",
                               owner_pid=None, started_at=0.0, command=[])
    assert server.health(state, timeout=0.1) == "down"
    assert sent == {"Authorization": "Bearer status-key"}
