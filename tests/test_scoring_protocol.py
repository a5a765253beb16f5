"""The judge prompts are the published protocol, byte for byte (hashes of the published prompts)."""

from __future__ import annotations

import hashlib
import json

import pytest

from vdc_bench.errors import VdcBenchError
from vdc_bench.scoring.protocol import PROMPTS_FILE, load_protocol

# Hashes of the published prompts, copied, not computed from our file.
REFERENCE = {
    "call1_system": (376, "5f9604667b58c3262143dd21c49e77c68c760fb3c7c51995a9eaa4453f598127"),
    "call1_user": (272, "64a03ca2c023af531a0e245d17ae69ad6bc80388f42d3e3e0de05a347c74d1e0"),
    "call2_system": (498, "12b9e42d120081bf1e7f1999bb09db2db250add544abd3c183d61a2f938c6510"),
    "call2_user": (675, "e0cb1a9ee04b8388031b9c86359afa0409850b00f42b85b950bf30e632829ea6"),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_template_is_verbatim(name):
    templates = json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))["templates"]
    chars, sha = REFERENCE[name]
    assert len(templates[name]) == chars
    assert hashlib.sha256(templates[name].encode("utf-8")).hexdigest() == sha


def test_messages_substitute_only_the_slots():
    p = load_protocol("vdcscore-v1")
    call1 = p.answer_messages("A caption mentioning {question} literally.", "What is it?")
    assert [m["role"] for m in call1] == ["system", "user"]
    assert call1[0]["content"] == p.templates["call1_system"]
    assert "detailed description: A caption mentioning {question} literally., question: What is it?DO NOT" in call1[1]["content"]
    call2 = p.verdict_messages("Q?", "red car", " a red car\n")
    user = call2[1]["content"]
    assert "Question: Q?\nCorrect Answer: red car\nPredicted Answer:  a red car\n\n" in user  # raw, unstripped
    assert user.endswith("{'pred': 'yes', 'score': 4.8}.")  # literal braces survive
    assert p.response_format("call2") is None


def test_json_protocol_same_prompts_different_hash():
    plain, constrained = load_protocol("vdcscore-v1"), load_protocol("vdcscore-v1-json")
    assert plain.templates == constrained.templates
    assert plain.prompt_sha256 != constrained.prompt_sha256
    rf = constrained.response_format("call2")
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["required"] == ["pred", "score"]
    assert constrained.describe()["same_prompts_as_published"] is False
    assert plain.describe()["same_prompts_as_published"] is True


def test_unknown_protocol_is_a_user_error():
    with pytest.raises(VdcBenchError, match="unknown judge protocol"):
        load_protocol("vdcscore-v2")
