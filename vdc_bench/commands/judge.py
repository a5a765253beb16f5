"""``vdc-bench judge serve|stop|status|calibrate``: local judge servers and judge calibration."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from vdc_bench.commands.option_types import non_negative_int, positive_float, positive_int
from vdc_bench.errors import VdcBenchError
from vdc_bench.judge import assets, engines, server
from vdc_bench.logs import logger
from vdc_bench.scoring.judge_settings import CONCURRENCY_HELP, ENV_API_KEY


def register(sub) -> None:
    p = sub.add_parser("judge", help="start/stop a local VDCscore judge server; calibrate a judge")
    jsub = p.add_subparsers(dest="judge_command", metavar="ACTION", required=True)

    s = jsub.add_parser(
        "serve",
        help="start an OpenAI-compatible judge server (embedded llama.cpp model, or vLLM/SGLang on GPUs)",
        description="Starts a judge server on loopback, waits until it answers, prints its base URL. "
        "Runs in the background until `vdc-bench judge stop` unless --foreground.",
    )
    s.add_argument("--engine", choices=("llama-cpp", *engines.ENGINE_MODULES), default="llama-cpp",
                   help="llama-cpp (embedded, CPU) or a GPU engine")
    s.add_argument(
        "--model",
        default=None,
        help=f"llama-cpp: one of {', '.join(assets.ASSETS)} (default {assets.DEFAULT_ASSET}); "
        f"vllm/sglang: a model id or path (default {engines.PUBLISHED_JUDGE}, the published judge)",
    )
    s.add_argument("--gguf", default=None, help="llama-cpp: serve this GGUF file instead")
    s.add_argument(
        "--smoke", action="store_true", help=f"llama-cpp: serve {assets.SMOKE_ASSET} (plumbing tests only)"
    )
    s.add_argument(
        "--host", default=server.LOOPBACK,
        help="bind address (default loopback); vllm/sglang beyond loopback require an API key",
    )
    s.add_argument(
        "--api-key", default=None,
        help="vllm/sglang: the key clients must send (default: $OPENAI_API_KEY when --host is not loopback, "
        "the variable the judge client sends; prefer it to this flag, which other users can see in ps); "
        "passed through the environment, never written to a file or log",
    )
    s.add_argument(
        "--port",
        type=non_negative_int,
        default=None,
        help="0 picks a free port (default: 8001 llama-cpp, 8000 vllm, 30000 sglang)",
    )
    s.add_argument("--n-ctx", type=positive_int, default=engines.EMBEDDED_N_CTX, help="llama-cpp context length")
    s.add_argument("--threads", type=positive_int, default=None, help="llama-cpp threads (default: all usable cores)")
    s.add_argument("--tp", type=positive_int, default=1, help="vllm/sglang tensor-parallel GPUs")
    s.add_argument("--dp", type=positive_int, default=1,
                   help="vllm/sglang data-parallel replicas (GPUs = tp x dp); for an 8B judge, dp is the throughput choice")
    s.add_argument(
        "--context-length", type=positive_int, default=engines.ENGINE_CONTEXT, help="vllm/sglang max context"
    )
    s.add_argument(
        "--python", default=sys.executable, help="vllm/sglang: interpreter that has the engine installed"
    )
    s.add_argument(
        "--engine-arg", action="append", default=[], help="extra argument passed to vllm/sglang (repeatable)"
    )
    s.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops the server")
    s.add_argument("--timeout", type=positive_float, default=None, help="seconds to wait until the server is ready")
    s.set_defaults(func=run_serve)

    st = jsub.add_parser("stop", help="stop judge servers started by `judge serve` (idempotent)")
    st.add_argument("--port", type=positive_int, default=None, help="stop only the server on this port")
    st.add_argument("--all", action="store_true", help="also stop servers owned by running evaluations")
    st.set_defaults(func=run_stop)

    ss = jsub.add_parser("status", help="list running judge servers")
    ss.add_argument("--json", action="store_true", help="machine-readable output")
    ss.set_defaults(func=run_status)

    c = jsub.add_parser(
        "calibrate",
        help="score reference / mismatched / generic / empty captions k times: separation and stability",
    )
    c.add_argument(
        "--source", choices=("demo", "vdc"), default="demo", help="labelled set (default: the demo set)"
    )
    c.add_argument("--root", type=Path, default=None, help="VDC data root (any supported layout)")
    c.add_argument("--dimensions", default="camera,short,background,main_object,detailed", help="comma-separated")
    c.add_argument("--videos", type=positive_int, default=2, help="videos per dimension (at least 2)")
    c.add_argument("--qas", type=non_negative_int, default=3, help="QAs per video (0 = all)")
    c.add_argument("--repeats", "-k", type=positive_int, default=2, help="judge every QA this many times")
    c.add_argument("--seed", type=int, default=1234, help="seed of repeat 1 (repeat r uses seed + r - 1)")
    c.add_argument(
        "--protocol", default="vdcscore-v1", help="vdcscore-v1 (published prompts) or vdcscore-v1-json"
    )
    c.add_argument(
        "--judge", choices=("embedded", "url"), default=None, help="default: url if a base URL is set"
    )
    c.add_argument("--judge-base-url", default=None, help="OpenAI-compatible judge URL, e.g. http://localhost:30000/v1")
    c.add_argument(
        "--judge-model", default=None, help="url: served model id; embedded: model name or .gguf path"
    )
    c.add_argument(
        "--temperature", type=float, default=None, help="default 0 (1.0 = reference-sampling mode)"
    )
    c.add_argument("--concurrency", type=positive_int, default=None, help=CONCURRENCY_HELP)
    c.add_argument("--output", type=Path, default=None, help="folder for calibration.json / calibration.md (default: runs/calibration/<UTC time>)")
    c.set_defaults(func=run_calibrate)


def _loopback(host: str) -> bool:
    return host in (server.LOOPBACK, "localhost", "::1")


def _engine_api_key(args: argparse.Namespace) -> str | None:
    """The key a vllm/sglang server will require: --api-key, else $OPENAI_API_KEY beyond loopback, where
    a server without one would answer anyone on the network."""
    key = args.api_key or (None if _loopback(args.host) else os.environ.get(ENV_API_KEY, "").strip() or None)
    if key is None and not _loopback(args.host):
        raise VdcBenchError(f"--host {args.host} exposes the judge beyond this machine: set {ENV_API_KEY} (or pass "
                            "--api-key) so the server requires that key, or bind to loopback")
    return key


def _spec(args: argparse.Namespace) -> server.ServerSpec:
    port = args.port
    if port == 0:
        port = server.free_port(args.host)
    port = port or engines.DEFAULT_PORTS[args.engine]
    if args.engine == "llama-cpp":
        model = args.gguf or (assets.SMOKE_ASSET if args.smoke else args.model)
        target = engines.resolve_embedded(model)
        spec = engines.embedded_spec(target, args.host, port, args.n_ctx, args.threads)
    else:
        if args.gguf or args.smoke:
            raise VdcBenchError("--gguf/--smoke apply to --engine llama-cpp only")
        opts = engines.EngineOptions(
            engine=args.engine,
            model=args.model or engines.PUBLISHED_JUDGE,
            tp=args.tp,
            dp=args.dp,
            host=args.host,
            port=port,
            context_length=args.context_length,
            python=args.python,
            extra_args=tuple(args.engine_arg),
            api_key=_engine_api_key(args),
        )
        spec = engines.engine_spec(opts)
    if args.timeout:
        spec = dataclasses.replace(spec, ready_timeout_s=args.timeout)
    return spec


def _print_endpoint(state: server.ServerState, note: str) -> None:
    print(state.base_url)
    logger.info(f"[judge] {note}: {state.description}")
    logger.info(f"[judge] model {state.model!r}, log {state.log}")
    logger.info(f"[judge] use it: export VDC_JUDGE_BASE_URL={state.base_url} VDC_JUDGE_MODEL={state.model}")


def run_serve(args: argparse.Namespace) -> int:
    if args.engine == "llama-cpp" and not _loopback(args.host):
        logger.warning(f"[judge] warning: binding to {args.host}: the server has no authentication")
    if args.engine == "llama-cpp" and args.api_key:
        raise VdcBenchError("--api-key applies to --engine vllm/sglang only")
    spec = _spec(args)
    running = server.find_server(model=spec.model)
    if running is not None:
        # Reusing it silently would ignore an explicit address: say so, and how to get that address.
        asked = ([f"--port {args.port}"] if args.port not in (None, 0) and args.port != running.port else []) + (
            [f"--host {args.host}"] if args.host != running.host else [])
        if asked:
            raise VdcBenchError(
                f"{running.description} already serves {running.model} at {running.base_url}, not at "
                f"{' '.join(asked)}: stop it first (vdc-bench judge stop --port {running.port}) or leave the option out"
            )
        _print_endpoint(running, "already running, reusing it")
        return 0
    state = server.start_server(spec, owned=args.foreground)
    _print_endpoint(state, "ready")
    if not args.foreground:
        logger.info("[judge] running in the background; stop it with: vdc-bench judge stop")
        return 0
    logger.info("[judge] foreground mode: Ctrl-C stops the server")
    try:
        while server.pid_alive(state.pid):
            time.sleep(1.0)
    finally:
        server.stop_owned_servers()
    raise VdcBenchError(f"the judge server exited; last lines of {state.log}:\n{server.log_tail(state.log)}")


def run_stop(args: argparse.Namespace) -> int:
    stopped = 0
    for state in server.list_servers():
        if args.port is not None and state.port != args.port:
            continue
        if state.owner_pid is not None and not args.all and args.port is None:
            continue
        if server.stop_server(state):
            stopped += 1
            logger.info(f"[judge] stopped {state.description} on port {state.port} (pid {state.pid})")
    if not stopped:
        logger.info("[judge] no judge server running" + (f" on port {args.port}" if args.port is not None else ""))
    return 0


def run_status(args: argparse.Namespace) -> int:
    rows = []
    for state in server.list_servers():
        rows.append({**state.__dict__, "base_url": state.base_url, "health": server.health(state)})
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no judge server running")
    for row in rows if not args.json else []:
        owner = f"owned by pid {row['owner_pid']}" if row["owner_pid"] else "detached"
        print(
            f"{row['base_url']}  model={row['model']}  pid={row['pid']}  {owner}  "
            f"{row['health']}  log={row['log']}"
        )
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    # Imported here: scoring pulls in openai/numpy, which serve/stop/status never need.
    from vdc_bench.atomic_write import atomic_write_text
    from vdc_bench.dataset.dimensions import DIMENSIONS
    from vdc_bench.judge import calibrate
    from vdc_bench.judge.embedded import resolve_judge
    from vdc_bench.scoring.protocol import load_protocol

    dims = tuple(d.strip() for d in args.dimensions.split(",") if d.strip())
    unknown = sorted(set(dims) - set(DIMENSIONS))
    if unknown:
        raise VdcBenchError(
            f"--dimensions: unknown {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}"
        )
    if args.repeats < 1:
        raise VdcBenchError("--repeats must be at least 1")
    cfg = calibrate.CalibrationConfig(
        args.videos, args.qas, dims, args.repeats, args.seed, args.source, args.root
    )
    protocol = load_protocol(args.protocol)
    settings = resolve_judge(
        base_url=args.judge_base_url, model=args.judge_model, mode=args.judge,
        temperature=args.temperature, concurrency=args.concurrency,
    )  # fmt: skip
    report = calibrate.calibrate(cfg, settings, protocol)
    text = calibrate.markdown(report)
    out = args.output or Path("runs") / "calibration" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    audit = report.pop("audit")
    atomic_write_text(out / "calibration.json", json.dumps(report, indent=2))
    atomic_write_text(out / "calibration_audit.jsonl", "".join(json.dumps(row) + "\n" for row in audit))
    atomic_write_text(out / "calibration.md", text)
    print(text)
    logger.info(f"[judge] written: {out}/calibration.json, calibration.md, calibration_audit.jsonl")
    return 0
