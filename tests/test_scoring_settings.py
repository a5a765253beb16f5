"""Judge settings: arguments over environment, the embedded judge as the lazy default, no secrets in public()."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from vdc_bench.errors import VdcBenchError
from vdc_bench.judge import embedded, server
from vdc_bench.judge.embedded import resolve_judge
from vdc_bench.scoring.judge_client import request_body
from vdc_bench.scoring.judge_settings import base_url_host
from vdc_bench.scoring.qa_generation import parse_qa_list
from vdc_bench.scoring.verdict_cache import request_key

ENV = ("VDC_JUDGE", "VDC_JUDGE_BASE_URL", "VDC_JUDGE_MODEL", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ENV:
        monkeypatch.delenv(key, raising=False)


def test_arguments_win_over_environment(monkeypatch):
    monkeypatch.setenv("VDC_JUDGE_BASE_URL", "http://env-host:1/v1")
    monkeypatch.setenv("VDC_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    s = resolve_judge(model="arg-model", concurrency=7, temperature=None)
    assert (s.base_url, s.model, s.api_key, s.concurrency, s.temperature) == (
        "http://env-host:1/v1", "arg-model", "sk-env-secret", 7, 0.0)
    public = s.public()
    assert public["base_url_host"] == "env-host:1" and "sk-env-secret" not in repr(public) + repr(s)


def test_url_mode_needs_a_model():
    with pytest.raises(VdcBenchError, match="needs a model name"):
        resolve_judge(base_url="http://127.0.0.1:5/v1")


def test_host_only_even_with_credentials_in_the_url():
    assert base_url_host("https://user:pw@judge.example.org:8443/v1?token=abc") == "judge.example.org:8443"


def test_embedded_is_the_default_and_called_lazily(monkeypatch):
    asked = []

    def fake(model=None):
        asked.append(model)
        return server.JudgeEndpoint("http://127.0.0.1:4321/v1", "tiny-gguf", True, "embedded tiny (NOT the published judge)")

    monkeypatch.setattr(embedded, "ensure_embedded_judge", fake)
    s = resolve_judge()
    assert asked == [None]
    assert (s.base_url, s.model, s.source) == ("http://127.0.0.1:4321/v1", "tiny-gguf", "embedded")
    assert "NOT the published judge" in s.public()["description"]
    # a one-slot local server: one request in flight (prefix reuse), a long timeout; explicit options still win
    assert (s.concurrency, s.timeout_s) == (1, 600.0)
    assert resolve_judge(concurrency=8).concurrency == 8


@pytest.mark.parametrize(
    ("reply", "n"),
    [
        ('[{"question": "What is red?", "answer": "the car", "category": "object"}]', 1),
        ('Here you go:\n```json\n[{"question": "Q1?", "answer": "A1"}, {"question": "Q2?", "answer": "A2"}]\n```', 2),
        ("[{'question': 'Where?', 'answer': 'a park', 'category': 'location'}]", 1),
        ('[{"question": "Q?", "answer": ""}, {"question": "Q2?", "answer": "kept"}]', 1),  # empty answer dropped
        ("I cannot do that.", None),
        ('[{"q": "no keys"}]', None),
    ],
)
def test_parse_qa_list(reply, n):
    pairs = parse_qa_list(reply)
    assert (len(pairs) if pairs else None) == n


@pytest.mark.parametrize("url, kind, concurrency", [
    ("http://127.0.0.1:8000/v1", "local", 128),
    ("http://10.0.3.7:8000/v1,http://10.0.3.8:8000/v1", "local", 256),  # per URL
    ("http://gpu-node-3:30000/v1", "local", 128),  # a cluster node's short name
    ("https://api.openai.com/v1", "hosted", 32),
    ("http://127.0.0.1:8000/v1,https://judge.example.com/v1", "hosted", 32),
])
def test_concurrency_default_follows_the_kind_of_judge_and_the_flag_wins(monkeypatch, url, kind, concurrency):
    monkeypatch.setattr(embedded, "list_servers", lambda: [])
    s = resolve_judge(base_url=url, model="m")
    assert (s.concurrency, s.concurrency_default, s.public()["concurrency_from"]) == (
        concurrency, kind, f"default for {kind}")
    explicit = resolve_judge(base_url=url, model="m", concurrency=5)
    assert (explicit.concurrency, explicit.public()["concurrency_from"]) == (5, "set")


def test_a_url_of_a_served_llama_cpp_judge_gets_its_slot_default(monkeypatch):
    state = server.ServerState(pid=1, host="127.0.0.1", port=8001, model="m", engine="llama-cpp", description="d",
                               log="l", owner_pid=None, started_at=0.0, command=[])
    monkeypatch.setattr(embedded, "list_servers", lambda: [state])
    assert resolve_judge(base_url="http://localhost:8001/v1", model="m").concurrency == 1
    assert resolve_judge(base_url="http://localhost:8000/v1", model="m").concurrency == 128


def test_llama_cpp_judges_are_asked_for_no_repeat_penalty_and_other_judges_get_none(monkeypatch):
    # llama-cpp-python's server penalises repeated tokens (1.1) unless told otherwise; the protocol's judges don't.
    state = server.ServerState(pid=1, host="127.0.0.1", port=8001, model="m", engine="llama-cpp", description="d",
                               log="l", owner_pid=None, started_at=0.0, command=[])
    monkeypatch.setattr(embedded, "list_servers", lambda: [state])
    local = SimpleNamespace(base_url="http://127.0.0.1:8001/v1", model="m", description="embedded")
    monkeypatch.setattr(embedded, "ensure_embedded_judge", lambda model=None: local)
    messages = [{"role": "user", "content": "q"}]
    for settings in (resolve_judge(mode="embedded"), resolve_judge(base_url="http://localhost:8001/v1", model="m")):
        assert settings.repeat_penalty == 1.0
        assert request_body(settings, messages, None)["repeat_penalty"] == 1.0
        assert settings.public()["repeat_penalty"] == 1.0  # recorded with every result
    other = resolve_judge(base_url="http://localhost:8000/v1", model="m")
    assert other.repeat_penalty is None and "repeat_penalty" not in request_body(other, messages, None)
    # The cache keys of other judges are what they were; a llama.cpp judge's replies are keyed apart.
    assert "repeat_penalty" not in other.sampling()
    with_penalty = replace(other, repeat_penalty=1.0)
    assert request_key("m", "p", messages, with_penalty.sampling(), None) != request_key(
        "m", "p", messages, other.sampling(), None)


def test_concurrency_defaults_are_shown_in_help():
    from vdc_bench.cli import build_parser

    score = build_parser()._subparsers._group_actions[0].choices["score"]
    shown = " ".join(score.format_help().split())
    assert "embedded llama.cpp 1" in shown and "(vLLM/SGLang) 128 per URL" in shown and "a hosted API 32" in shown
