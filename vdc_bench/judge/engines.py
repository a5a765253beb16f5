"""Launch specs for the judge engines: the embedded llama-cpp-python server, vLLM and SGLang.

Each function returns a ``ServerSpec`` (command line, port, served model id) that
``vdc_bench.judge.server.start_server`` runs. VDCscore's sampling (temperature 0, seed, 256 new
tokens) is sent by the client with every request; the server side only needs the model, enough
context for a detailed caption plus the judge prompt, and a fixed seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from vdc_bench.errors import VdcBenchError
from vdc_bench.judge import assets
from vdc_bench.judge.server import LOOPBACK, ServerSpec
from vdc_bench.logs import logger

PUBLISHED_JUDGE = "meta-llama/Llama-3.1-8B-Instruct"  # the judge of the published VDCscore numbers
NOT_PUBLISHED = f"NOT the published judge {PUBLISHED_JUDGE}"
EMBEDDED_N_CTX = 4096  # llama-cpp-python defaults to 2048, too short for detailed captions
ENGINE_CONTEXT = 8192  # GPU engines: a detailed caption + prompt + 256 new tokens fit with room to spare
# `make` lays the judge venv and its build script out beside the project's own venv (.venv):
# found from the running interpreter's environment, not from where this package's files are.
CHECKOUT = Path(sys.prefix).resolve().parent
BOOTSTRAP_SCRIPT = CHECKOUT / "scripts" / "bootstrap_judge.sh"
# llama_cpp.server plus OpenAI-style json_schema response_format support (see the module)
LLAMA_SERVER_SHIM = Path(__file__).resolve().with_name("llama_server_shim.py")


class EngineNotInstalled(VdcBenchError):
    """The requested inference engine is not importable by the chosen Python."""


# --- embedded (llama-cpp-python) --------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedModel:
    gguf: Path
    alias: str
    description: str


def judge_python() -> Path:
    """Interpreter of the judge venv: ``$VDC_JUDGE_PYTHON``, else ``.venv-judge/bin/python`` beside the
    project venv."""
    return Path(os.environ.get("VDC_JUDGE_PYTHON") or CHECKOUT / ".venv-judge" / "bin" / "python")


# The CPU instruction sets a llama.cpp build reports, widest first; the first one present names the build.
_BUILD_LEVELS = ("AVX512", "AVX2", "AVX")


@cache
def llama_cpp_version(python: Path) -> str | None:
    """llama-cpp-python version importable by ``python`` (server extras included) and the instruction set
    its llama.cpp was built for, e.g. ``0.3.36, AVX512 build``; None when it cannot be imported.

    Builds for different instruction sets can differ in a logit's last bits, so the build is part of
    what a judge description records.
    """
    probe = ("import llama_cpp, llama_cpp.server.app; "
             "print(llama_cpp.__version__); print(llama_cpp.llama_print_system_info().decode())")
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    version, _, system_info = done.stdout.strip().partition("\n")
    enabled = {part.split("=")[0].strip() for part in system_info.replace("CPU :", "|").split("|") if "= 1" in part}
    level = next((name for name in _BUILD_LEVELS if name in enabled), "generic")
    return f"{version}, {level} build"


def ensure_judge_python(log: Callable[[str], None]) -> tuple[Path, str]:
    """The judge venv's Python and its llama-cpp-python version, building the venv if needed."""
    python = judge_python()
    version = llama_cpp_version(python)
    if version:
        return python, version
    if "VDC_JUDGE_PYTHON" in os.environ:
        raise EngineNotInstalled(
            f"VDC_JUDGE_PYTHON={python} cannot import llama_cpp.server; install "
            "'llama-cpp-python[server]==0.3.36' into that environment"
        )
    if not BOOTSTRAP_SCRIPT.is_file():
        raise EngineNotInstalled(
            f"{python} is missing and {BOOTSTRAP_SCRIPT} is not available; create a venv with "
            "'llama-cpp-python[server]==0.3.36' and set VDC_JUDGE_PYTHON to its python"
        )
    log(
        f"[judge] building the embedded judge runtime with {BOOTSTRAP_SCRIPT.name} "
        "(compiles llama-cpp-python once per machine: a few minutes on 2 cores) ..."
    )
    done = subprocess.run(["bash", str(BOOTSTRAP_SCRIPT), "--no-models"], stdout=sys.stderr)
    llama_cpp_version.cache_clear()
    version = llama_cpp_version(python)
    if done.returncode != 0 or not version:
        raise EngineNotInstalled(
            f"{BOOTSTRAP_SCRIPT} failed (rc={done.returncode}); see its output above, then rerun "
            f"'bash {BOOTSTRAP_SCRIPT}'"
        )
    return python, version


def resolve_embedded(model: str | None, log: Callable[[str], None] = logger.info) -> EmbeddedModel:
    """``model``: an embedded model name or alias (default Qwen2.5-Coder-1.5B) or a path to a GGUF file."""
    name = model or assets.DEFAULT_ASSET
    for asset in assets.ASSETS.values():
        if name in (asset.name, asset.alias):
            return EmbeddedModel(assets.ensure_asset(asset.name, log=log), asset.alias, asset.description)
    path = Path(name).expanduser()
    if path.suffix != ".gguf" and not path.exists():
        raise assets.AssetError(
            f"unknown embedded judge model {name!r}: give one of {', '.join(assets.ASSETS)} or a .gguf path"
        )
    if not path.is_file():
        raise assets.AssetError(f"{path}: GGUF file not found")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise assets.AssetError(f"{path}: not a GGUF file (bad magic bytes)")
    return EmbeddedModel(path.resolve(), path.stem, f"{path.name} (user-supplied GGUF)")


def embedded_spec(
    target: EmbeddedModel,
    host: str = LOOPBACK,
    port: int = 8001,
    n_ctx: int = EMBEDDED_N_CTX,
    threads: int | None = None,
    log: Callable[[str], None] = logger.info,
) -> ServerSpec:
    python, version = ensure_judge_python(log)
    threads = threads or len(os.sched_getaffinity(0))
    command = [
        str(python), str(LLAMA_SERVER_SHIM),
        "--model", str(target.gguf), "--model_alias", target.alias,
        "--n_ctx", str(n_ctx), "--n_threads", str(threads),
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    return ServerSpec(
        engine="llama-cpp",
        command=command,
        host=host,
        port=port,
        model=target.alias,
        description=f"embedded {target.description} via llama-cpp-python {version} ({NOT_PUBLISHED})",
        ready_timeout_s=120.0,
        # llama.cpp's OpenMP threads spin while waiting; on a busy machine (CI, shared boxes) that made
        # generation 5-10x slower in our measurements. Passive waiting costs little on an idle one.
        env={"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
    )


# --- GPU engines (vLLM, SGLang) ----------------------------------------------------------------

ENGINE_MODULES = {"vllm": "vllm.entrypoints.openai.api_server", "sglang": "sglang.launch_server"}
# The API key a GPU engine requires reaches it through its environment, never its command line (visible to
# every local user, and recorded in the server's log and state file). vLLM reads VLLM_API_KEY itself;
# SGLang only takes --api-key, so a launcher adds that inside the process and masks the key in what the
# process prints (SGLang logs its arguments at start-up).
KEY_ENV = {"vllm": "VLLM_API_KEY", "sglang": "VDC_ENGINE_API_KEY"}
SGLANG_WITH_KEY = """import os, runpy, sys
key = os.environ.pop("VDC_ENGINE_API_KEY")
class Masked:
    def __init__(self, stream): self.stream = stream
    def write(self, text): return self.stream.write(text.replace(key, "***"))
    def __getattr__(self, name): return getattr(self.stream, name)
sys.stdout, sys.stderr = Masked(sys.stdout), Masked(sys.stderr)
sys.argv = [*sys.argv[1:], "--api-key", key]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
DEFAULT_PORTS = {"llama-cpp": 8001, "vllm": 8000, "sglang": 30000}  # sglang: the reference scorer's port
INSTALL_HINTS = {"vllm": "pip install vllm", "sglang": "pip install 'sglang[all]'"}


@dataclass(frozen=True)
class EngineOptions:
    engine: str  # vllm | sglang
    model: str = PUBLISHED_JUDGE
    tp: int = 1
    dp: int = 1  # data-parallel replicas behind one port: the throughput choice for a judge that fits one GPU
    host: str = LOOPBACK
    port: int = 0  # 0: the engine's default port
    context_length: int = ENGINE_CONTEXT
    python: str = sys.executable
    extra_args: tuple[str, ...] = ()
    api_key: str | None = field(default=None, repr=False)  # the key clients must send (None: no auth)


def engine_command(opts: EngineOptions) -> list[str]:
    """Command line for ``opts.engine`` (no check that it is installed)."""
    if opts.engine not in ENGINE_MODULES:
        raise VdcBenchError(
            f"unknown engine {opts.engine!r}; choose from llama-cpp, {', '.join(ENGINE_MODULES)}"
        )
    if opts.tp < 1 or opts.dp < 1:
        raise VdcBenchError(f"--tp and --dp must be >= 1, got {opts.tp} and {opts.dp}")
    port = str(opts.port or DEFAULT_PORTS[opts.engine])
    if opts.engine == "vllm":
        command = [
            opts.python, "-m", ENGINE_MODULES["vllm"],
            "--model", opts.model, "--served-model-name", opts.model,
            "--host", opts.host, "--port", port,
            "--tensor-parallel-size", str(opts.tp),
            "--data-parallel-size", str(opts.dp),
            "--max-model-len", str(opts.context_length),
            "--seed", "0",
            # ignore the checkpoint's generation_config.json sampling defaults; VDCscore sends its own
            "--generation-config", "vllm",
        ]  # fmt: skip
    else:  # sglang
        launch = ["-c", SGLANG_WITH_KEY] if opts.api_key else ["-m"]
        command = [
            opts.python, *launch, ENGINE_MODULES["sglang"],
            "--model-path", opts.model, "--served-model-name", opts.model,
            "--host", opts.host, "--port", port,
            "--tp", str(opts.tp),
            "--dp-size", str(opts.dp),
            "--context-length", str(opts.context_length),
            "--random-seed", "0",
        ]  # fmt: skip
    return command + list(opts.extra_args)


def engine_env(opts: EngineOptions) -> dict[str, str]:
    """Environment the engine needs beyond ours: its API key, if any."""
    return {KEY_ENV[opts.engine]: opts.api_key} if opts.api_key else {}


def engine_installed(engine: str, python: str) -> bool:
    package = ENGINE_MODULES[engine].split(".")[0]
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({package!r}) is None)"
    try:
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_spec(opts: EngineOptions) -> ServerSpec:
    """ServerSpec for a GPU engine; EngineNotInstalled if ``opts.python`` cannot import it."""
    command = engine_command(opts)
    if not engine_installed(opts.engine, opts.python):
        raise EngineNotInstalled(
            f"{opts.engine} is not installed for {opts.python}; install it on a GPU machine "
            f"({INSTALL_HINTS[opts.engine]}) or pass --python with an interpreter that has it. "
            f"Command that would run: {' '.join(command)}"
        )
    return ServerSpec(
        engine=opts.engine,
        command=command,
        host=opts.host,
        port=opts.port or DEFAULT_PORTS[opts.engine],
        model=opts.model,
        description=f"{opts.model} via {opts.engine} (tp={opts.tp}, dp={opts.dp})"
        + (", API key required" if opts.api_key else ""),
        ready_timeout_s=1800.0,  # downloading and loading 8B weights, CUDA graph capture
        env=engine_env(opts),
        api_key=opts.api_key,
    )
