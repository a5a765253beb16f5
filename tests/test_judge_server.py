"""Server lifecycle (start, health, reuse, stop, port in use, crash, no orphans) with a tiny stdlib
OpenAI-style server standing in for the engine, so these run in seconds without llama.cpp."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vdc_bench.judge import embedded, engines, server

STUB = textwrap.dedent(
    """
    import http.server, json, signal, sys
    port, model = int(sys.argv[1]), sys.argv[2]
    if sys.argv[3:] == ["ignore-term"]:  # like a server stuck in a long request
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": model}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    print("stub listening", flush=True)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def judge_cache(tmp_path, monkeypatch):
    """Isolated cache dir (state files, logs); stops whatever a test left running."""
    monkeypatch.setenv("VDC_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache" / "judge"
    server.stop_owned_servers()
    for state in server.list_servers():
        server.stop_server(state, grace_s=2)


@pytest.fixture
def stub_script(tmp_path) -> Path:
    path = tmp_path / "stub_server.py"
    path.write_text(STUB)
    return path


def stub_spec(script: Path, port: int | None = None, model: str = "stub-model") -> server.ServerSpec:
    port = port or server.free_port()
    return server.ServerSpec(
        engine="stub",
        command=[sys.executable, str(script), str(port), model],
        host=server.LOOPBACK,
        port=port,
        model=model,
        description="stub judge",
        ready_timeout_s=30,
    )


def wait_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_detached_start_reuse_stop_idempotent(judge_cache, stub_script):
    state = server.start_server(stub_spec(stub_script), owned=False, log=lambda m: None)
    assert server.served_models(state.host, state.port) == ["stub-model"]
    assert state.base_url == f"http://127.0.0.1:{state.port}/v1"
    assert (judge_cache / "servers" / f"{state.port}.json").is_file()
    assert "stub listening" in Path(state.log).read_text()
    # a later lookup (e.g. another run) finds and reuses it
    found = server.find_server(model="stub-model")
    assert found is not None and found.pid == state.pid and found.owner_pid is None

    assert server.stop_server(state, grace_s=5) is True
    assert wait_gone(state.pid)
    assert server.list_servers() == []
    assert server.stop_server(state, grace_s=1) is False  # idempotent


def test_port_in_use_is_a_clear_error(judge_cache, stub_script):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(server.ServerError, match=rf"port {port} .* already in use.*--port 0"):
            server.start_server(stub_spec(stub_script, port=port), owned=False, log=lambda m: None)
    assert server.list_servers() == []


def test_early_exit_reports_log_tail(judge_cache):
    port = server.free_port()
    spec = server.ServerSpec(
        engine="stub",
        command=[sys.executable, "-c", "print('model file is corrupt'); raise SystemExit(3)"],
        host=server.LOOPBACK,
        port=port,
        model="m",
        description="broken judge",
        ready_timeout_s=30,
    )
    with pytest.raises(server.ServerError, match=r"exited with code 3(.|\n)*model file is corrupt"):
        server.start_server(spec, owned=False, log=lambda m: None)
    assert server.list_servers() == []


def test_find_server_skips_servers_owned_by_other_processes_not_by_ancestors(judge_cache, stub_script):
    state = server.start_server(stub_spec(stub_script), owned=False, log=lambda m: None)
    path = judge_cache / "servers" / f"{state.port}.json"
    detached = path.read_text()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a sibling, not an ancestor
    try:
        path.write_text(detached.replace('"owner_pid": null', f'"owner_pid": {other.pid}'))
        assert server.find_server(model="stub-model") is None
    finally:
        other.kill()
        other.wait()
    # Owned by the process that started this one (a demo or sweep starting lmms-eval): it outlives us, so reuse it.
    path.write_text(detached.replace('"owner_pid": null', f'"owner_pid": {os.getppid()}'))
    found = server.find_server(model="stub-model")
    assert found is not None and found.port == state.port
    server.stop_server(state, grace_s=5)


OWNER = textwrap.dedent(
    """
    import sys, time
    from vdc_bench.judge import server
    cmd = [sys.executable, sys.argv[1], sys.argv[2], "stub-model", *sys.argv[4:]]
    spec = server.ServerSpec("stub", cmd, "127.0.0.1", int(sys.argv[2]), "stub-model", "stub judge", 30.0)
    state = server.start_server(spec, owned=True, log=lambda m: None)
    print(state.pid, flush=True)
    if sys.argv[3] == "exit":
        sys.stdin.readline()  # exit normally once the test has seen the server
        sys.exit(0)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("how", ["exit", "SIGTERM", "SIGKILL"])
def test_owned_server_dies_with_its_owner(judge_cache, stub_script, tmp_path, how):
    owner_py = tmp_path / "owner.py"
    owner_py.write_text(OWNER)
    port = server.free_port()
    owner = subprocess.Popen(
        [sys.executable, str(owner_py), str(stub_script), str(port), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    pid = int(owner.stdout.readline())
    assert server.pid_alive(pid)
    if how == "exit":
        owner.stdin.write("\n")
        owner.stdin.flush()
    else:
        os.kill(owner.pid, getattr(signal, how))
    owner.wait(timeout=30)
    assert wait_gone(pid), f"server {pid} outlived its owner ({how})"
    assert not server.port_in_use("127.0.0.1", port)
    assert server.list_servers() == []


def test_server_ignoring_sigterm_is_killed_even_if_the_owner_dies_while_stopping(
    judge_cache, stub_script, tmp_path
):
    owner_py = tmp_path / "owner.py"
    owner_py.write_text(OWNER)
    port = server.free_port()
    owner = subprocess.Popen(
        [sys.executable, str(owner_py), str(stub_script), str(port), "wait", "ignore-term"],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = int(owner.stdout.readline())
    os.kill(owner.pid, signal.SIGTERM)  # owner starts a graceful stop the server ignores ...
    time.sleep(1.0)
    os.kill(owner.pid, signal.SIGKILL)  # ... and is killed before escalating
    owner.wait(timeout=30)
    assert wait_gone(pid, timeout=30), "server outlived its owner"
    assert not server.port_in_use("127.0.0.1", port)


def test_embedded_crash_restarts_once_then_fails(judge_cache, stub_script, monkeypatch):
    target = engines.EmbeddedModel(gguf=stub_script, alias="stub-model", description="stub")
    monkeypatch.setattr(engines, "resolve_embedded", lambda model, log=None: target)
    monkeypatch.setattr(
        engines, "embedded_spec", lambda target, host, port, log=None: stub_spec(stub_script, port=port)
    )
    monkeypatch.setattr(embedded, "_RESTARTED", set())

    first = embedded.ensure_embedded_judge(log=lambda m: None)
    assert first.started_here and first.model == "stub-model"
    assert embedded.ensure_embedded_judge(log=lambda m: None) == first  # reused, not restarted
    pid = server.find_server(model="stub-model").pid

    os.killpg(pid, signal.SIGKILL)
    assert wait_gone(pid)
    second = embedded.ensure_embedded_judge(log=lambda m: None)
    assert second.base_url == first.base_url  # same port: clients keep their URL
    pid2 = server.find_server(model="stub-model").pid
    assert pid2 != pid

    os.killpg(pid2, signal.SIGKILL)
    assert wait_gone(pid2)
    with pytest.raises(server.ServerError, match="crashed again"):
        embedded.ensure_embedded_judge(log=lambda m: None)


def test_cli_stop_and_status_without_servers(judge_cache, capsys):
    from vdc_bench.cli import main

    assert main(["judge", "stop"]) == 0
    assert "no judge server running" in capsys.readouterr().err
    assert main(["judge", "status"]) == 0
    assert "no judge server running" in capsys.readouterr().out


def test_health_tells_busy_from_down():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # accepts connections, never answers: like llama.cpp in the middle of a long request
        port = sock.getsockname()[1]
        state = server.ServerState(1, "127.0.0.1", port, "m", "stub", "stub", "log", None, 0.0, [])
        assert server.health(state, timeout=0.5) == "busy"
    assert server.health(state, timeout=0.5) == "down"


def test_stale_state_with_a_reused_pid_is_never_signalled(judge_cache):
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        state = server.ServerState(
            bystander.pid,
            "127.0.0.1",
            9,
            "m",
            "stub",
            "stub",
            "log",
            None,
            0.0,
            ["python", "-m", "llama_cpp.server"],
        )
        server._write_state(state)
        assert server.list_servers() == []  # pid alive, but it is not our server: the state file goes
        server._write_state(state)
        assert server.stop_server(state, grace_s=1) is False
        assert bystander.poll() is None
        assert not (judge_cache / "servers" / "9.json").exists()
    finally:
        bystander.kill()
        bystander.wait()
