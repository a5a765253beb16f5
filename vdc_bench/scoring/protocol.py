"""VDCscore judge protocols: the verbatim prompt templates and how each judge call is built.

Two protocols share the same verbatim prompts (``vdc_bench/protocol/judge_prompts.json``):

* ``vdcscore-v1``: the published protocol. Call 1 returns free text (the extracted answer, passed raw,
  unstripped, into call 2 as the reference does); call 2 returns a Python-dict string.
* ``vdcscore-v1-json``: the same two calls with a JSON-schema ``response_format``. Constrained decoding
  changes what the judge can say, so its numbers are **not directly comparable** with published VDCscore.

The protocol hash covers every string and schema that can reach the judge, so two results with the same
hash asked the judge the same questions in the same words.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from vdc_bench.errors import VdcBenchError

PROMPTS_FILE = Path(__file__).resolve().parent.parent / "protocol" / "judge_prompts.json"
PROTOCOLS = ("vdcscore-v1", "vdcscore-v1-json")
DEFAULT_PROTOCOL = "vdcscore-v1"

_SLOT = re.compile(r"\{([a-z_]+)\}")

Message = dict[str, str]


def fill_slots(template: str, values: dict[str, str]) -> str:
    """Substitute ``{name}`` for the names in ``values`` only.

    Other braces are literal text (e.g. the "{'pred': 'yes', 'score': 4.8}" example), so str.format
    cannot be used. One pass, so a caption that itself contains "{question}" is never substituted again.
    """
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class Protocol:
    name: str
    templates: dict[str, str]
    reask_verdict: str
    reask_answer: str
    schemas: dict[str, dict[str, Any]] | None  # None: free-text protocol

    @property
    def constrained(self) -> bool:
        return self.schemas is not None

    @property
    def prompt_sha256(self) -> str:
        payload = {
            "name": self.name,
            "templates": self.templates,
            "reask": [self.reask_verdict, self.reask_answer] if self.constrained else [self.reask_verdict],
            "schemas": self.schemas,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def answer_messages(self, caption: str, question: str) -> list[Message]:
        """Call 1. System + caption come first so all QAs of a video share a prefix (prefix caching)."""
        user = fill_slots(self.templates["call1_user"], {"pred_caption": caption, "question": question})
        return [{"role": "system", "content": self.templates["call1_system"]}, {"role": "user", "content": user}]

    def verdict_messages(self, question: str, gt_answer: str, pred_answer: str) -> list[Message]:
        """Call 2, comparing the reference answer with call 1's raw reply."""
        user = fill_slots(
            self.templates["call2_user"],
            {"question": question, "gt_answer": gt_answer, "pred_answer": pred_answer},
        )
        return [{"role": "system", "content": self.templates["call2_system"]}, {"role": "user", "content": user}]

    def response_format(self, call: str) -> dict[str, Any] | None:
        """``response_format`` for ``call`` ("call1" or "call2"); None for the free-text protocol."""
        if self.schemas is None:
            return None
        return {"type": "json_schema", "json_schema": self.schemas[call]}

    def reask_messages(self, messages: list[Message], bad_reply: str, call: str) -> list[Message]:
        """Follow-up turn after an unparsable reply: the judge sees its own reply and a fixed correction."""
        text = self.reask_answer if call == "call1" else self.reask_verdict
        return [*messages, {"role": "assistant", "content": bad_reply}, {"role": "user", "content": text}]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt_sha256": self.prompt_sha256,
            "constrained_json": self.constrained,
            "same_prompts_as_published": not self.constrained,
            "prompts_file": PROMPTS_FILE.name,
        }


def is_published_judge(model: str) -> bool:
    """Whether ``model`` names the judge of the published VDCscore numbers (Llama-3.1-8B Instruct, any
    packaging: Hub id, served name or GGUF file). Same prompts with another judge give other scales."""
    return "llama-3.1-8b" in model.lower().replace("_", "-")


@cache
def load_protocol(name: str = DEFAULT_PROTOCOL) -> Protocol:
    if name not in PROTOCOLS:
        raise VdcBenchError(f"unknown judge protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    data = json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))
    extra = data["vdc_bench_additions"]
    return Protocol(
        name=name,
        templates=dict(data["templates"]),
        reask_verdict=extra["reask_user"],
        reask_answer=extra["reask_user_answer"],
        schemas=dict(extra["json_schemas"]) if name == "vdcscore-v1-json" else None,
    )
