"""Parsing corpus: reply shapes real judges (Llama-3.1-8B, Qwen, GPT-4o-mini, small local models) emit."""

from __future__ import annotations

import pytest

from vdc_bench.scoring.reply_parser import MAX_REPLY_CHARS, Verdict, parse_answer_json, parse_verdict

CORPUS = [
    # (reply, expected verdict or None)
    ("{'pred': 'yes', 'score': 4}", ("yes", 4.0)),
    ("{'pred': 'no', 'score': 0}", ("no", 0.0)),
    ('{"pred": "yes", "score": 5}', ("yes", 5.0)),
    ("{'pred': 'yes', 'score': 4.8}", ("yes", 4.8)),  # float, as in the prompt's own example
    ("{'pred': 'Yes', 'score': 3}", ("yes", 3.0)),  # capitalised (the reference would count this as no)
    ("{'pred': 'NO', 'score': 1}", ("no", 1.0)),
    ("{'pred': 'yes', 'score': '4'}", ("yes", 4.0)),  # score as string
    ("{'pred': 'no', 'score': '2.5'}", ("no", 2.5)),
    ("{'pred': 'yes', 'score': 7}", ("yes", 5.0)),  # clamped high
    ("{'pred': 'no', 'score': -1}", ("no", 0.0)),  # clamped low
    ("{'pred':'yes','score':3}", ("yes", 3.0)),  # no spaces
    ("{ 'pred' : 'yes' , 'score' : 3 }", ("yes", 3.0)),
    ("{'pred': 'yes', 'score': 4}\n", ("yes", 4.0)),
    ("  \n{'pred': 'no', 'score': 2}  ", ("no", 2.0)),
    ("Here is my evaluation: {'pred': 'yes', 'score': 4}", ("yes", 4.0)),  # leading prose
    ("{'pred': 'no', 'score': 1}\nThe predicted answer does not mention the car.", ("no", 1.0)),  # trailing prose
    ("```python\n{'pred': 'yes', 'score': 5}\n```", ("yes", 5.0)),  # code fence
    ('```json\n{"pred": "no", "score": 0}\n```', ("no", 0.0)),
    ("```\n{'pred': 'yes', 'score': 3}\n```\nExplanation: close paraphrase.", ("yes", 3.0)),
    ('{"pred": "yes", "score": 4, "reason": "synonym"}', ("yes", 4.0)),  # extra key
    ("{'score': 2, 'pred': 'no'}", ("no", 2.0)),  # key order swapped
    ("{'Pred': 'yes', 'Score': 4}", ("yes", 4.0)),  # capitalised keys
    ('{"pred": true, "score": 4}', ("yes", 4.0)),  # JSON boolean
    ("{'pred': 'yes.', 'score': 4}", ("yes", 4.0)),  # punctuation inside the value
    ("{'pred': 'yes', 'score': 4.0}", ("yes", 4.0)),
    ("{'pred': 'yes', 'score': 4/5}", ("yes", 4.0)),  # not a literal: regex fallback takes the 4
    ("{'pred': 'yes', 'score': 4", ("yes", 4.0)),  # missing closing brace
    ("{pred: yes, score: 3}", ("yes", 3.0)),  # unquoted keys and values
    ("pred: no\nscore: 1", ("no", 1.0)),  # YAML-ish
    ("Yes. Score: 4", ("yes", 4.0)),  # bare yes with a score
    ("No, score: 0 - the answers differ.", ("no", 0.0)),
    ("{'pred': 'no', 'score': 0}{'pred': 'yes', 'score': 5}", ("no", 0.0)),  # the first dict wins
    ("I'm sorry, I cannot evaluate this.", None),  # refusal
    ("", None),
    ("{'pred': 'maybe', 'score': 3}", None),  # pred not yes/no
    ("{'pred': 'yes'}", None),  # score missing
    ("{'score': 4}", None),  # pred missing
    ("{'pred': 'yes', 'score': 'high'}", None),  # score not numeric
    ("{'pred': 'yes', 'score': float('nan')}", None),  # never evaluated as code
    ("{'pred': 'yes', 'score': __import__('os').getpid()}", None),  # never evaluated as code
]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize(("reply", "expected"), CORPUS)
def test_parse_verdict(reply, expected):
    got = parse_verdict(reply)
    assert got == (Verdict(*expected) if expected else None)


def test_reply_is_size_limited_before_parsing():
    # A verdict buried after the limit is not looked at: parsing cost is bounded by MAX_REPLY_CHARS.
    assert parse_verdict("x" * MAX_REPLY_CHARS + "{'pred': 'yes', 'score': 4}") is None
    assert parse_verdict("{'pred': 'yes', 'score': 4}" + "x" * 10 * MAX_REPLY_CHARS) == Verdict("yes", 4.0)


def test_deeply_nested_reply_does_not_crash():
    assert parse_verdict("[" * 100_000 + "]" * 100_000) is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"answer": "a red car"}', "a red car"),
        ('```json\n{"answer": "two dogs"}\n```', "two dogs"),
        ("{'answer': 'sunny'}", "sunny"),
        ('{"answer": 3}', "3"),
        ("a red car", None),
        ('{"reply": "x"}', None),
    ],
)
def test_parse_answer_json(reply, expected):
    assert parse_answer_json(reply) == expected
