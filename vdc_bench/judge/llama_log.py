"""What the embedded judge spent its time on, read back from its llama-cpp-python server log.

The server (verbose, its default) writes for every completion:

* ``Llama.generate: N prefix-match hit, remaining M prompt tokens to eval`` when N prompt tokens were
  still in the KV cache from the previous request (no line: nothing reused);
* ``llama_perf_context_print: prompt eval time = X ms / M tokens`` for the prompt tokens it evaluated;
* ``llama_perf_context_print:        eval time = Y ms / G runs`` for the G tokens it generated.

Summed over a stretch of the log they give the prefix-reuse rate (reused / all prompt tokens) and how the
judge's time split between reading prompts and generating. The first request after a server start reports
its prompt time as ~0 ms (llama.cpp's timer is not running yet), so ``prompt_eval_s`` is a lower bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REUSED = re.compile(r"^Llama\.generate: (\d+) prefix-match hit, remaining \d+ prompt tokens to eval", re.M)
_PROMPT = re.compile(r"^llama_perf_context_print: prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", re.M)
_GENERATED = re.compile(r"^llama_perf_context_print:\s+eval time =\s*([\d.]+) ms /\s*(\d+) runs", re.M)


@dataclass(frozen=True)
class PromptCacheStats:
    requests: int
    prompt_tokens_evaluated: int
    prompt_tokens_reused: int
    generated_tokens: int
    prompt_eval_s: float
    generation_s: float

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_tokens_evaluated + self.prompt_tokens_reused

    @property
    def reuse_rate(self) -> float | None:
        """Share of prompt tokens taken from the KV cache instead of evaluated; None without requests."""
        return self.prompt_tokens_reused / self.prompt_tokens if self.prompt_tokens else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.reuse_rate
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_evaluated": self.prompt_tokens_evaluated,
            "prompt_tokens_reused": self.prompt_tokens_reused,
            "prefix_reuse_rate": None if rate is None else round(rate, 4),
            "generated_tokens": self.generated_tokens,
            "prompt_eval_s": round(self.prompt_eval_s, 1),
            "generation_s": round(self.generation_s, 1),
        }


def log_size(path: Path) -> int:
    """Where the log ends now: read from here after a run to see only that run's requests."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_stats(path: Path, offset: int = 0) -> PromptCacheStats:
    """Totals of the completions logged in ``path`` from byte ``offset`` on."""
    with path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    prompts = [(float(ms), int(n)) for ms, n in _PROMPT.findall(text)]
    generated = [(float(ms), int(n)) for ms, n in _GENERATED.findall(text)]
    return PromptCacheStats(
        requests=len(prompts),
        prompt_tokens_evaluated=sum(n for _, n in prompts),
        prompt_tokens_reused=sum(int(n) for n in _REUSED.findall(text)),
        generated_tokens=sum(n for _, n in generated),
        prompt_eval_s=sum(ms for ms, _ in prompts) / 1000,
        generation_s=sum(ms for ms, _ in generated) / 1000,
    )
