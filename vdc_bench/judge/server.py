"""Start, find, reuse, health-check and stop local OpenAI-compatible judge servers.

Each server runs in its own session (process group) so stopping it kills everything it spawned.
Its state (pid, port, model, log file, owner) is a JSON file in ``<cache>/servers/<port>.json``,
which is how ``vdc-bench judge status|stop`` and later runs find it.

Two lifetimes:
* *detached* (``vdc-bench judge serve``): runs until ``vdc-bench judge stop``; runs reuse it.
* *owned* (``judge.embedded.ensure_embedded_judge`` inside a VDC run): stopped at exit of the owning process by
  atexit and a SIGTERM handler, and by ``vdc_bench.judge.watchdog`` if the owner dies any other way.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.errors import VdcBenchError
from vdc_bench.judge import assets
from vdc_bench.logs import logger
from vdc_bench.scoring.judge_settings import ENV_API_KEY

LOOPBACK = "127.0.0.1"
LOG_TAIL_LINES = 30
STOP_GRACE_S = 15.0


class ServerError(VdcBenchError):
    """A judge server could not be started, reached or stopped."""


@dataclass(frozen=True)
class JudgeEndpoint:
    """Where a VDCscore judge answers (an OpenAI-compatible endpoint). ``base_url`` ends in ``/v1``."""

    base_url: str
    model: str
    started_here: bool
    description: str


@dataclass(frozen=True)
class ServerSpec:
    """An OpenAI-compatible server to launch: ``command`` must listen on ``host:port`` and serve ``model``."""

    engine: str  # llama-cpp | vllm | sglang
    command: list[str]
    host: str
    port: int
    model: str
    description: str
    ready_timeout_s: float = 180.0
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold the API key: never logged or saved
    api_key: str | None = field(default=None, repr=False)  # the key the server requires (readiness checks send it)


@dataclass
class ServerState:
    """What is persisted about a running server (one JSON file per port)."""

    pid: int  # leader of the server's process group
    host: str
    port: int
    model: str
    engine: str
    description: str
    log: str
    owner_pid: int | None  # None: detached, stopped only by `judge stop`
    started_at: float
    command: list[str]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def endpoint(self, started_here: bool) -> JudgeEndpoint:
        return JudgeEndpoint(self.base_url, self.model, started_here, self.description)


# --- small OS helpers -------------------------------------------------------------------------


def servers_dir() -> Path:
    return assets.cache_dir() / "servers"


def logs_dir() -> Path:
    return assets.cache_dir() / "logs"


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Servers set SO_REUSEADDR too, so TIME_WAIT leftovers of a stopped server don't count as "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def served_models(host: str, port: int, timeout: float = 2.0, api_key: str | None = None) -> list[str] | None:
    """Model ids from ``GET /v1/models``, or None if nothing healthy answers there in time."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = urllib.request.Request(f"http://{host}:{port}/v1/models", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            data = json.load(resp)
    except (OSError, ValueError):
        return None
    return [m.get("id", "") for m in data.get("data", [])] if isinstance(data, dict) else None


def health(state: ServerState, timeout: float = 2.0) -> str:
    """``ok`` (serves its model), ``busy`` (accepts connections but is slow to answer: llama-cpp-python
    answers ``/v1/models`` only between generations), or ``down``. A server that requires an API key is
    asked with ``OPENAI_API_KEY`` (without it, it answers 401 and counts as busy)."""
    models = served_models(state.host, state.port, timeout, os.environ.get(ENV_API_KEY, "").strip() or None)
    if models is not None:
        return "ok" if state.model in models else "down"
    try:
        with socket.create_connection((state.host, state.port), timeout=timeout):
            return "busy"
    except OSError:
        return "down"


def log_tail(path: str | Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.rstrip().splitlines()[-lines:])


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """Serialise starting servers and assembling models across processes."""
    path = assets.cache_dir() / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- state files ------------------------------------------------------------------------------


def _state_path(port: int) -> Path:
    return servers_dir() / f"{port}.json"


def _write_state(state: ServerState) -> None:
    atomic_write_text(_state_path(state.port), json.dumps(asdict(state), indent=2))


def _read_state(path: Path) -> ServerState | None:
    try:
        return ServerState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_running(state: ServerState) -> bool:
    """The state's pid is alive and still runs the command we started (pids get reused)."""
    if not pid_alive(state.pid):
        return False
    try:
        argv = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return True
    return [a.decode(errors="replace") for a in argv] == state.command


def list_servers() -> list[ServerState]:
    """Running servers we know of; state files of dead or unreadable servers are removed."""
    live = []
    for path in sorted(servers_dir().glob("*.json")):
        state = _read_state(path)
        if state is None or not is_running(state):
            path.unlink(missing_ok=True)
            continue
        live.append(state)
    return live


# --- start / stop -----------------------------------------------------------------------------

# Servers this process owns: port -> (process, state). Stopped at exit.
_OWNED: dict[int, tuple[subprocess.Popen, ServerState]] = {}
_HOOKS_INSTALLED = False


def start_server(spec: ServerSpec, *, owned: bool, log: Callable[[str], None] = logger.info) -> ServerState:
    """Launch ``spec`` in a new process group, wait until ``/v1/models`` lists its model.

    Raises ServerError (with the log tail) if the port is taken, the process exits early or it does
    not become healthy within ``spec.ready_timeout_s``.
    """
    if port_in_use(spec.host, spec.port):
        raise ServerError(
            f"port {spec.port} on {spec.host} is already in use by another process; "
            "pass another --port, or --port 0 to pick a free one"
        )
    logs_dir().mkdir(parents=True, exist_ok=True)
    log_path = logs_dir() / f"{spec.engine}-{spec.port}.log"
    command = (
        [sys.executable, "-m", "vdc_bench.judge.watchdog", "--", *spec.command] if owned else spec.command
    )
    with log_path.open("ab") as log_file:
        log_file.write(
            f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {' '.join(command)}\n".encode()
        )
        log_file.flush()
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **spec.env},
            )
        except OSError as err:
            raise ServerError(f"cannot start {spec.description}: {command[0]}: {err}") from None
    state = ServerState(
        pid=proc.pid,
        host=spec.host,
        port=spec.port,
        model=spec.model,
        engine=spec.engine,
        description=spec.description,
        log=str(log_path),
        owner_pid=os.getpid() if owned else None,
        started_at=time.time(),
        command=command,
    )
    _write_state(state)
    if owned:
        _OWNED[spec.port] = (proc, state)
        _install_exit_hooks()
    log(f"[judge] starting {spec.description} on {state.base_url} (log: {log_path})")
    try:
        _wait_ready(proc, spec)
    except BaseException:
        stop_server(state)
        raise
    return state


def _wait_ready(proc: subprocess.Popen, spec: ServerSpec) -> None:
    deadline = time.monotonic() + spec.ready_timeout_s
    log_path = logs_dir() / f"{spec.engine}-{spec.port}.log"
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            raise ServerError(
                f"{spec.description} exited with code {rc} before it was ready; last lines of {log_path}:\n"
                + log_tail(log_path)
            )
        models = served_models(spec.host, spec.port, timeout=1.0, api_key=spec.api_key)
        if models is not None and spec.model in models:
            return
        time.sleep(0.25)
    raise ServerError(
        f"{spec.description} was not ready after {spec.ready_timeout_s:.0f} s; last lines of {log_path}:\n"
        + log_tail(log_path)
    )


def stop_server(state: ServerState, grace_s: float = STOP_GRACE_S) -> bool:
    """SIGTERM the server's process group, SIGKILL it after ``grace_s``. Idempotent.

    Returns True if a process was running.
    """
    owned = _OWNED.pop(state.port, None)
    proc = owned[0] if owned else None
    was_running = is_running(state) if proc is None else proc.poll() is None
    if proc is None and not was_running:
        if _is_state_of(state):
            _state_path(state.port).unlink(missing_ok=True)
        return False  # never signal a pid that may now belong to someone else
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _group_alive(state.pid, proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(state.pid, proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(state.pid, signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=grace_s)
    if _is_state_of(state):
        _state_path(state.port).unlink(missing_ok=True)
    return was_running


def _is_state_of(state: ServerState) -> bool:
    """The state file on ``state.port`` describes this very server (not a newer one on the same port)."""
    path = _state_path(state.port)
    current = _read_state(path) if path.exists() else None
    return current is not None and current.pid == state.pid


def _group_alive(pgid: int, proc: subprocess.Popen | None) -> bool:
    if proc is not None and proc.poll() is None:
        return True
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also succeeds while only zombies remain; check the leader and any member by /proc.
    return pid_alive(pgid) or _group_has_live_member(pgid)


def _group_has_live_member(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def stop_owned_servers() -> None:
    """Stop every server this process started for itself (atexit / signal path)."""
    for _, state in list(_OWNED.values()):
        stop_server(state)


def _install_exit_hooks() -> None:
    """atexit always; a SIGTERM handler only where nobody else installed one (we never steal a handler)."""
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(stop_owned_servers)
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal only works in the main thread; the watchdog still covers SIGTERM
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_sigterm(signum, frame):
        stop_owned_servers()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # die with the usual status

    signal.signal(signal.SIGTERM, on_sigterm)


def _self_and_ancestors() -> set[int]:
    """This process and the chain of processes that started it."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def find_server(model: str | None = None, port: int | None = None) -> ServerState | None:
    """A running server (healthy or busy) serving ``model`` (and on ``port``) that this process may use:
    a detached one, or one owned by this process or by a process that started it (e.g. ``vdc-bench demo``
    or ``sweep`` for the lmms-eval runs they start), which outlives this process."""
    users = _self_and_ancestors()
    for state in list_servers():
        if (model is not None and state.model != model) or (port is not None and state.port != port):
            continue
        if state.owner_pid is not None and state.owner_pid not in users:
            continue  # owned by another run: it disappears when that run exits
        if health(state) != "down":
            return state
    return None


def owned_servers() -> dict[int, tuple[subprocess.Popen, ServerState]]:
    """Servers this process started and owns, by port (a copy)."""
    return dict(_OWNED)


def forget_owned(port: int) -> None:
    """Stop tracking an owned server that has exited (its state file stays for diagnosis)."""
    _OWNED.pop(port, None)
