"""Prefix-reuse and time totals read back from a llama-cpp-python server log (lines as 0.3.36 writes them)."""

from __future__ import annotations

import pytest

from vdc_bench.judge.llama_log import log_size, read_stats

EARLIER = """INFO:     127.0.0.1:38612 - "POST /v1/chat/completions HTTP/1.1" 200 OK
llama_perf_context_print: prompt eval time =    9999.00 ms /   999 tokens (   10.00 ms per token,   100.00 tokens per second)
"""
RUN = """llama_perf_context_print:        load time =     300.00 ms
llama_perf_context_print: prompt eval time =       0.10 ms /   165 tokens (    0.00 ms per token, 1617647.06 tokens per second)
llama_perf_context_print:        eval time =    2552.47 ms /    12 runs   (  212.71 ms per token,     4.70 tokens per second)
Llama.generate: 132 prefix-match hit, remaining 30 prompt tokens to eval
llama_perf_context_print: prompt eval time =    4632.83 ms /    30 tokens (  154.43 ms per token,     6.48 tokens per second)
llama_perf_context_print:        eval time =     595.87 ms /     2 runs   (  297.94 ms per token,     3.36 tokens per second)
llama_perf_context_print:       total time =    5000.00 ms /    32 tokens
"""


def test_totals_cover_only_what_was_logged_after_the_offset(tmp_path):
    log = tmp_path / "llama-cpp-1.log"
    log.write_text(EARLIER)
    start = log_size(log)
    with log.open("a") as f:
        f.write(RUN)
    stats = read_stats(log, start)
    assert (stats.requests, stats.prompt_tokens_evaluated, stats.prompt_tokens_reused) == (2, 195, 132)
    assert stats.prompt_tokens == 327 and stats.reuse_rate == pytest.approx(132 / 327)
    assert stats.generated_tokens == 14
    assert stats.prompt_eval_s == pytest.approx(4.63293) and stats.generation_s == pytest.approx(3.14834)
    assert stats.as_dict()["prefix_reuse_rate"] == round(132 / 327, 4)


def test_a_log_without_completions_has_no_rate(tmp_path):
    log = tmp_path / "quiet.log"
    log.write_text("INFO:     Uvicorn running on http://127.0.0.1:1 (Press CTRL+C to quit)\n")
    stats = read_stats(log)
    assert stats.requests == 0 and stats.reuse_rate is None
    assert log_size(tmp_path / "missing.log") == 0


def test_a_completion_that_reused_nothing_counts_its_prompt_time_from_its_total(tmp_path):
    # Lines of a real 0.3.36 log: the first request of a server reports ~0 ms for its 206 prompt tokens but took
    # 7.3 s; the second reused the first's prefix and reports its prompt time itself.
    log = tmp_path / "llama-cpp-2.log"
    log.write_text("""llama_perf_context_print:        load time =       0.88 ms
llama_perf_context_print: prompt eval time =       0.21 ms /   206 tokens (    0.00 ms per token, 985645.93 tokens per second)
llama_perf_context_print:        eval time =      66.97 ms /     1 runs   (   66.97 ms per token,    14.93 tokens per second)
llama_perf_context_print:       total time =    7319.68 ms /   207 tokens
llama_perf_context_print:    graphs reused =          0
INFO:     127.0.0.1:51958 - "POST /v1/chat/completions HTTP/1.1" 200 OK
Llama.generate: 173 prefix-match hit, remaining 33 prompt tokens to eval
llama_perf_context_print:        load time =       0.88 ms
llama_perf_context_print: prompt eval time =    1141.97 ms /    33 tokens (   34.61 ms per token,    28.90 tokens per second)
llama_perf_context_print:        eval time =      85.03 ms /     1 runs   (   85.03 ms per token,    11.76 tokens per second)
llama_perf_context_print:       total time =    1231.97 ms /    34 tokens
""")
    stats = read_stats(log)
    assert (stats.requests, stats.prompt_tokens_evaluated, stats.prompt_tokens_reused) == (2, 239, 173)
    assert stats.prompt_eval_s == pytest.approx((7319.68 - 66.97 + 1231.97 - 85.03) / 1000)
    assert stats.generation_s == pytest.approx((66.97 + 85.03) / 1000) and stats.generated_tokens == 2
