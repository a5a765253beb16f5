"""Model arguments and generation settings of the AuroraCap adapter, validated once at start.

Model args arrive from lmms-eval's ``--model_args`` (values already typed as bool/int/float/str, and
``batch_size`` possibly as a string) or from the ``vdc-bench caption`` command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.arg_names import ALIASES, DEFAULT_TOKEN_KEPT_RATIO, canonical_name
from vdc_bench.models.auroracap.prompting import CONV_TEMPLATES
from vdc_bench.models.auroracap.vision_tower import ATTN_IMPLEMENTATIONS

DTYPES = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
          "fp32": torch.float32, "float32": torch.float32}
DECODE_BACKENDS = ("auto", "static", "hf")


class ModelArgError(VdcBenchError):
    """A model argument is unknown or invalid."""


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ModelArgError(f"model arg {name}={value!r}: expected true or false")


@dataclass
class AuroraCapSettings:
    pretrained: str = ""
    token_kept_ratio: float = DEFAULT_TOKEN_KEPT_RATIO
    num_frm: int = 16
    dtype: str = "auto"  # auto = fp16 on CUDA (as upstream), fp32 on CPU
    device: str = "auto"  # auto = cuda:<local rank> if CUDA is available, else cpu
    attn_implementation: str = "sdpa"
    batch_size: int = 1
    slowfast: bool = False
    conv_template: str = "vicuna_v1"
    proportional_attention: bool = False  # original-ToMe key-wise log-size bias; a deviation from AuroraCap
    # greedy decode backend: static = preallocated KV cache + CUDA-graph step (static_decode.py),
    # hf = transformers generate; auto = static on CUDA, hf elsewhere. Sampling/beams always use hf.
    decode: str = "auto"

    @classmethod
    def from_model_args(cls, args: Mapping[str, Any]) -> AuroraCapSettings:
        """Apply aliases, coerce types, reject unknown names and bad values (one clear error)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for raw_name, value in args.items():
            name = canonical_name(raw_name)
            if name not in known:
                raise ModelArgError(
                    f"unknown model arg {raw_name!r}; known: {sorted(known) + sorted(ALIASES)}"
                )
            if name in values:
                raise ModelArgError(f"model arg {name!r} given twice (directly and as an alias)")
            if value is None:
                continue
            kind = type(known[name].default)
            try:
                values[name] = _as_bool(raw_name, value) if kind is bool else kind(value)
            except ValueError as err:
                raise ModelArgError(f"model arg {raw_name}={value!r}: expected {kind.__name__}") from err
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not self.pretrained:
            raise ModelArgError("model arg 'pretrained' is required (a checkpoint directory or hub id)")
        if not 0.0 < self.token_kept_ratio <= 1.0:
            raise ModelArgError(f"token_kept_ratio must be in (0, 1], got {self.token_kept_ratio}")
        if self.num_frm < 1:
            raise ModelArgError(f"num_frm must be >= 1, got {self.num_frm}")
        if self.batch_size < 1:
            raise ModelArgError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ModelArgError(f"dtype must be auto or one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ModelArgError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got {self.attn_implementation!r}")
        if self.decode not in DECODE_BACKENDS:
            raise ModelArgError(f"decode must be one of {DECODE_BACKENDS}, got {self.decode!r}")
        if self.conv_template not in CONV_TEMPLATES:
            raise ModelArgError(f"conv_template must be one of {sorted(CONV_TEMPLATES)}, got {self.conv_template!r}")

    def torch_device(self, local_rank: int = 0) -> torch.device:
        if self.device in ("auto", ""):
            return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda":
            return torch.device(f"cuda:{local_rank}")
        return torch.device(self.device)

    def static_decode(self, device: torch.device, generation: GenerationSettings) -> bool:
        """Whether this request group takes the static-cache greedy decoder."""
        greedy = not generation.sampling and generation.num_beams == 1
        return greedy and (self.decode == "static" or (self.decode == "auto" and device.type == "cuda"))

    def torch_dtype(self, device: torch.device) -> torch.dtype:
        if self.dtype == "auto":
            return torch.float16 if device.type == "cuda" else torch.float32
        return DTYPES[self.dtype]


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings of one request (upstream defaults: greedy, 1024 new tokens)."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float | None = None
    num_beams: int = 1
    do_sample: bool | None = None  # None: sample iff temperature > 0
    until: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_gen_kwargs(cls, gen_kwargs: Mapping[str, Any]) -> GenerationSettings:
        """lmms-eval ``gen_kwargs``; ``until`` may be a string, a list, or empty (= no stop strings)."""
        until = gen_kwargs.get("until") or ()
        if isinstance(until, str):
            until = (until,)
        top_p = gen_kwargs.get("top_p")
        do_sample = gen_kwargs.get("do_sample")
        return cls(
            max_new_tokens=int(gen_kwargs.get("max_new_tokens", 1024)),
            temperature=float(gen_kwargs.get("temperature", 0.0) or 0.0),
            top_p=None if top_p is None else float(top_p),
            num_beams=int(gen_kwargs.get("num_beams", 1) or 1),
            do_sample=None if do_sample is None else _as_bool("do_sample", do_sample),
            until=tuple(s for s in until if s),
        )

    @property
    def sampling(self) -> bool:
        return self.temperature > 0 if self.do_sample is None else self.do_sample

    def generate_kwargs(self) -> dict[str, Any]:
        """Arguments for ``generate`` (sampling parameters only when sampling, so greedy stays greedy)."""
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams,
                                  "do_sample": self.sampling}
        if self.sampling:
            kwargs["temperature"] = self.temperature if self.temperature > 0 else 1.0
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs


def cut_at_stop_strings(text: str, until: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in until) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
