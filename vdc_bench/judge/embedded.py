"""The embedded offline judge: started (or found) on demand and handed to VDCscore as a ready endpoint.

Scoring knows only URLs; this module is where "no judge configured" turns into a local llama.cpp server.
``resolve_judge`` here is the scoring layer's ``resolve_judge`` with that start-up wired in, including the
hook the judge client calls to bring a crashed embedded server back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from vdc_bench.judge import engines
from vdc_bench.judge.server import (
    LOOPBACK,
    JudgeEndpoint,
    ServerError,
    cache_lock,
    find_server,
    forget_owned,
    free_port,
    list_servers,
    log_tail,
    owned_servers,
    start_server,
    stop_server,
)
from vdc_bench.logs import logger
from vdc_bench.scoring import judge_settings
from vdc_bench.scoring.judge_settings import JudgeSettings

NO_REPEAT_PENALTY = 1.0  # what llama-cpp-python's server must be told for OpenAI-style greedy replies
_RESTARTED: set[str] = set()  # models whose owned server already crashed and was restarted once


def ensure_embedded_judge(
    model: str | None = None, log: Callable[[str], None] | None = None
) -> JudgeEndpoint:
    """Endpoint of the embedded judge, starting it (and building what it needs) if necessary.

    ``model``: an embedded model name (``qwen2.5-coder-1.5b`` default, ``smollm2-135m``), its alias,
    or a path to any ``.gguf``. Reuses a detached server (``vdc-bench judge serve``) or one this
    process started; otherwise starts one on a free loopback port, owned by this process.

    Call it again after connection errors: an owned server that crashed is restarted once (same
    port); a second crash raises ServerError with the log tail.
    """
    log = log or logger.info
    with cache_lock():
        target = engines.resolve_embedded(model, log=log)
        reuse = find_server(model=target.alias)
        if reuse is not None:
            return reuse.endpoint(started_here=reuse.owner_pid == os.getpid())
        port = None
        for owned_port, (proc, state) in owned_servers().items():
            if state.model == target.alias and proc.poll() is not None:
                if target.alias in _RESTARTED:
                    forget_owned(owned_port)
                    raise ServerError(
                        f"{state.description} crashed again (exit code {proc.returncode}); last lines of "
                        f"{state.log}:\n{log_tail(state.log)}"
                    )
                log(f"[judge] embedded judge exited with code {proc.returncode}; restarting it once")
                _RESTARTED.add(target.alias)
                stop_server(state)
                port = owned_port
        spec = engines.embedded_spec(target, host=LOOPBACK, port=port or free_port(LOOPBACK), log=log)
        return start_server(spec, owned=True, log=log).endpoint(started_here=True)


def _ensure(model: str | None) -> JudgeEndpoint:
    # Looked up at call time so that a replaced ensure_embedded_judge (tests) is the one used.
    return ensure_embedded_judge(model)


def resolve_judge(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    mode: str | None = None,
    **options: Any,
) -> JudgeSettings:
    """``scoring.judge_settings.resolve_judge`` with the embedded judge available (started on demand). The
    embedded judge, and a URL of a llama.cpp server that ``judge serve`` started, get no repeat penalty (the
    OpenAI API's greedy decoding, not llama-cpp-python's default); such a URL also gets the embedded judge's
    concurrency default."""
    settings = judge_settings.resolve_judge(base_url, model, api_key, mode, embedded=_ensure, **options)
    if settings.source == "embedded":
        return replace(settings, repeat_penalty=NO_REPEAT_PENALTY)
    llama_ports = {state.port for state in list_servers() if state.engine == "llama-cpp"}
    if any(urlsplit(url).port in llama_ports for url in settings.base_urls()):
        settings = replace(settings, repeat_penalty=NO_REPEAT_PENALTY)
        if options.get("concurrency") is None and settings.concurrency_default == "local":
            settings = judge_settings.with_default_concurrency(settings, "embedded")
    return settings
