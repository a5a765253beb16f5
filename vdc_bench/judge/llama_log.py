"""What the embedded judge spent its time on, read back from its llama-cpp-python server log.

The server (verbose, its default) writes for every completion:

* ``Llama.generate: N prefix-match hit, remaining M prompt tokens to eval`` when N prompt tokens were
  still in the KV cache from the previous request (no line: nothing reused);
* ``llama_perf_context_print: prompt eval time = X ms / M tokens`` for the prompt tokens it evaluated;
* ``llama_perf_context_print:        eval time = Y ms / G runs`` for the G tokens it generated;
* ``llama_perf_context_print:       total time = Z ms / T tokens`` for the whole completion.

Summed over a stretch of the log they give the prefix-reuse rate (reused / all prompt tokens) and how the
judge's time split between reading prompts and generating. A completion that reused nothing from the KV cache
(the first one, and each switch between the two judge calls' system prompts) reports its prompt time as ~0 ms
although it evaluated every prompt token, so a completion's prompt time is its total time less its generation
time (its prompt line's own figure where no total line follows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REUSED = re.compile(r"^Llama\.generate: (\d+) prefix-match hit, remaining \d+ prompt tokens to eval", re.M)
_PROMPT = re.compile(r"^llama_perf_context_print: prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", re.M)
_GENERATED = re.compile(r"^llama_perf_context_print:\s+eval time =\s*([\d.]+) ms /\s*(\d+) runs", re.M)
_TOTAL = re.compile(r"^llama_perf_context_print:\s+total time =\s*([\d.]+) ms", re.M)


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
    starts = list(_PROMPT.finditer(text))
    prompt_ms = generation_ms = 0.0
    tokens = generated_tokens = 0
    for i, start in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        completion = text[start.end():end]  # this completion's eval and total lines
        own_ms, total, gen = float(start[1]), _TOTAL.search(completion), _GENERATED.search(completion)
        gen_ms = float(gen[1]) if gen else 0.0
        prompt_ms += max(own_ms, float(total[1]) - gen_ms) if total else own_ms
        tokens += int(start[2])
        generated_tokens += int(gen[2]) if gen else 0
        generation_ms += gen_ms
    return PromptCacheStats(
        requests=len(starts),
        prompt_tokens_evaluated=tokens,
        prompt_tokens_reused=sum(int(n) for n in _REUSED.findall(text)),
        generated_tokens=generated_tokens,
        prompt_eval_s=prompt_ms / 1000,
        generation_s=generation_ms / 1000,
    )
