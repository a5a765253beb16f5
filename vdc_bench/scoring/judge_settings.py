"""Which judge to call and how: resolved from explicit arguments, then environment variables.

Environment: ``VDC_JUDGE`` (``embedded`` | ``url``), ``VDC_JUDGE_BASE_URL``, ``VDC_JUDGE_MODEL``,
``OPENAI_API_KEY``. Without a base URL the embedded judge is asked for through the ``embedded`` hook
(``vdc_bench.judge.embedded`` passes one that starts a local server); scoring itself starts nothing.
The API key never leaves this object: ``public()`` records only the base URL's host.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from vdc_bench.errors import VdcBenchError

ENV_MODE = "VDC_JUDGE"
ENV_BASE_URL = "VDC_JUDGE_BASE_URL"
ENV_MODEL = "VDC_JUDGE_MODEL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_PROTOCOL = "VDC_JUDGE_PROTOCOL"
# Local OpenAI-compatible servers accept any key, but the openai client refuses an empty one.
_PLACEHOLDER_KEY = "EMPTY"
# Concurrency defaults by kind of judge (``--concurrency`` wins). llama-cpp-python's server answers one
# request at a time and keeps the KV cache of the last prompt only: one request in flight keeps the calls of
# one caption back to back, so each reuses the prefix the previous one left (a second worker's calls,
# interleaved, would evict it); the idle gap is milliseconds. vLLM/SGLang batch hundreds of requests
# continuously, so a local server (per URL) takes many. A hosted API's rate limits answer too many with 429s.
EMBEDDED_CONCURRENCY = 1
CONCURRENCY_DEFAULTS = {"embedded": EMBEDDED_CONCURRENCY, "local": 128, "hosted": 32}
CONCURRENCY_HELP = (f"concurrent judge calls; default by judge: embedded llama.cpp {EMBEDDED_CONCURRENCY}, a server "
                    f"at a loopback, private or single-label host (vLLM/SGLang) {CONCURRENCY_DEFAULTS['local']} per "
                    f"URL, a hosted API {CONCURRENCY_DEFAULTS['hosted']}")
EMBEDDED_TIMEOUT_S = 600.0


class LocalEndpoint(Protocol):
    """What a local-judge hook returns: where the judge answers now."""

    base_url: str
    model: str
    description: str


# Given the embedded model name (None: the default), start or find a local judge and say where it is.
# Called again by the judge client when that server refuses connections (it may have crashed).
LocalJudgeHook = Callable[[str | None], LocalEndpoint]


@dataclass(frozen=True)
class JudgeSettings:
    base_url: str
    model: str
    api_key: str = field(default=_PLACEHOLDER_KEY, repr=False)
    temperature: float = 0.0
    seed: int | None = 1234
    max_tokens: int = 256
    concurrency: int = 32
    timeout_s: float = 120.0
    max_attempts: int = 6  # HTTP attempts per call (1 + retries) before the call is recorded as failed
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    reasks: int = 1  # follow-up turns after an unparsable reply before it counts as parse_failed
    source: str = "url"  # "url" | "embedded"
    description: str = ""
    revive: LocalJudgeHook | None = field(default=None, repr=False, compare=False)
    concurrency_default: str | None = None  # the kind whose default ``concurrency`` is; None: set explicitly
    # Sent only when set. llama-cpp-python's server penalises (by 1.1) the logits of tokens the reply already holds
    # unless a request says otherwise; the OpenAI API, vLLM and SGLang (the published judge) apply no such
    # penalty, so requests to our llama.cpp judges carry 1.0.
    repeat_penalty: float | None = None

    def __post_init__(self) -> None:
        # Zero workers would wait forever and zero attempts would fail every QA: reject, never score.
        for name, low in (("concurrency", 1), ("max_attempts", 1), ("max_tokens", 1), ("reasks", 0)):
            if getattr(self, name) < low:
                raise VdcBenchError(f"judge setting {name} must be >= {low}, got {getattr(self, name)}")
        if not self.timeout_s > 0 or not self.temperature >= 0:
            raise VdcBenchError(
                f"judge settings timeout_s must be > 0 and temperature >= 0, got {self.timeout_s}, {self.temperature}"
            )

    def base_urls(self) -> list[str]:
        """The endpoints: ``base_url`` may list several, comma-separated, all serving ``model``."""
        return [u.strip() for u in self.base_url.split(",") if u.strip()]

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters sent with every call (and part of every cache key)."""
        sampling = {"temperature": self.temperature, "seed": self.seed, "max_tokens": self.max_tokens}
        if self.repeat_penalty is not None:
            sampling["repeat_penalty"] = self.repeat_penalty
        return sampling

    def public(self) -> dict[str, Any]:
        """What results may record: no key, no full URL (it can carry credentials or tokens)."""
        return {
            "model": self.model,
            "base_url_host": ",".join(base_url_host(u) for u in self.base_urls()),
            "source": self.source,
            "description": self.description,
            **self.sampling(),
            "concurrency": self.concurrency,
            "concurrency_from": f"default for {self.concurrency_default}" if self.concurrency_default else "set",
            "timeout_s": self.timeout_s,
            "max_attempts": self.max_attempts,
            "reasks": self.reasks,
        }

    def with_options(self, **changes: Any) -> JudgeSettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def server_kind(base_url: str) -> str:
    """"local" for a server at a loopback, private or single-label host (a cluster node), else "hosted"."""
    host = urlsplit(base_url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "local" if host == "localhost" or "." not in host else "hosted"
    return "local" if address.is_private or address.is_loopback else "hosted"


def with_default_concurrency(settings: JudgeSettings, kind: str | None = None) -> JudgeSettings:
    """``settings`` with the concurrency default of its kind of judge (``kind``, else from its source and URL)."""
    urls = settings.base_urls()
    kind = kind or ("embedded" if settings.source == "embedded" else
                    "local" if all(server_kind(u) == "local" for u in urls) else "hosted")
    per_url = kind == "local"
    return replace(settings, concurrency=CONCURRENCY_DEFAULTS[kind] * (len(urls) if per_url else 1),
                   concurrency_default=kind)


def base_url_host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def redact_url(url: str) -> str:
    """``url`` as a written file may show it: user, password and query values (tokens) replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    pairs = (p.partition("=") for p in parts.query.split("&") if p)
    query = "&".join(f"{key}=***" if sep else key for key, sep, _ in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def resolve_judge(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    mode: str | None = None,
    embedded: LocalJudgeHook | None = None,
    **options: Any,
) -> JudgeSettings:
    """Arguments win over the environment. ``options`` are other JudgeSettings fields (None = default).

    ``embedded`` starts or finds the local judge when no URL is configured; without it that mode is an
    error naming the variables to set."""
    base_url = base_url or os.environ.get(ENV_BASE_URL, "").strip() or None
    model = model or os.environ.get(ENV_MODEL, "").strip() or None
    api_key = api_key or os.environ.get(ENV_API_KEY, "").strip() or _PLACEHOLDER_KEY
    mode = (mode or os.environ.get(ENV_MODE, "").strip() or ("url" if base_url else "embedded")).lower()
    if mode == "embedded":
        if embedded is None:
            raise VdcBenchError(
                "no judge configured and the embedded judge is not available here; "
                f"set {ENV_BASE_URL} and {ENV_MODEL} (or --judge-base-url/--judge-model)"
            )
        endpoint = embedded(model)
        settings = JudgeSettings(
            base_url=endpoint.base_url,
            model=endpoint.model,
            api_key=api_key,
            source="embedded",
            description=endpoint.description,
            timeout_s=EMBEDDED_TIMEOUT_S,
            revive=embedded,
        )
    elif mode == "url":
        if not base_url:
            raise VdcBenchError(f"judge mode 'url' needs a base URL: set {ENV_BASE_URL} or --judge-base-url")
        if not model:
            raise VdcBenchError(f"judge at {base_url_host(base_url)} needs a model name: set {ENV_MODEL} or --judge-model")
        settings = JudgeSettings(base_url=base_url, model=model, api_key=api_key, source="url")
    else:
        raise VdcBenchError(f"{ENV_MODE}={mode!r}: expected 'embedded' or 'url'")
    if options.get("concurrency") is None:
        settings = with_default_concurrency(settings)
    return settings.with_options(**options)
