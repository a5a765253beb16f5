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
from transformers import GenerationConfig

from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.arg_names import (
    ALIASES,
    BATCH1_KERNELS,
    DEFAULT_NUM_FRM,
    DEFAULT_TOKEN_KEPT_RATIO,
    canonical_name,
)
from vdc_bench.models.auroracap.prompting import CONV_TEMPLATES
from vdc_bench.models.auroracap.static_decode import ATTENTION_BACKENDS
from vdc_bench.models.auroracap.vision_tower import ATTN_IMPLEMENTATIONS

DTYPES = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
          "fp32": torch.float32, "float32": torch.float32}
DECODE_BACKENDS = ("auto", "static", "hf")
VISION_BACKENDS = ("auto", "graphed", "eager")
# Semantics switches: the first value is upstream's behaviour (the default).
SEMANTICS = {
    "stop_strings": ("ignore", "apply"),
    "sample_rule": ("temperature", "do_sample"),
    "frame_sampling": ("upstream", "exact"),
    "image_placement": ("upstream", "per_visual"),
}


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
    num_frm: int = DEFAULT_NUM_FRM
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
    # the static decoder's decode-step attention: sdpa = SDPA over all cache columns under a mask;
    # triton = split-K kernel over each row's valid columns (decode_attention.py; CUDA, opt-in: slower).
    decode_attention: str = "sdpa"
    # the static decoder at batch 1: torch = the layer functions (compiled on CUDA, cuBLAS GEMVs); fused =
    # decode_gemv.py's Triton kernels, norm/RoPE/SiLU/residual fused into the GEMVs; auto = fused on CUDA.
    decode_batch1: str = "auto"
    # frame encoder: graphed = replayed from CUDA graphs (graphed_vision.py, bit-identical features),
    # eager = plain module calls; auto = graphed on CUDA, eager elsewhere.
    vision: str = "auto"
    # Upstream semantics by default (the lmms-eval AuroraCap wrapper); each switch names the stricter choice.
    stop_strings: str = "ignore"  # ignore: the task's `until` is dropped, as upstream; apply: cut at the first one
    sample_rule: str = "temperature"  # temperature: sample iff temperature > 0, as upstream; do_sample: honour it
    frame_sampling: str = "upstream"  # upstream: also take the last frame (num_frm=1 gives 2); exact: num_frm
    image_placement: str = "upstream"  # upstream: the i-th <image> of the prompt is frame i; per_visual: all frames
    generation_config: bool = True  # use the checkpoint's generation_config.json as generate's defaults (upstream)

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
        if self.decode_attention not in ATTENTION_BACKENDS:
            raise ModelArgError(f"decode_attention must be one of {ATTENTION_BACKENDS}, got {self.decode_attention!r}")
        if self.decode_batch1 not in BATCH1_KERNELS:
            raise ModelArgError(f"decode_batch1 must be one of {BATCH1_KERNELS}, got {self.decode_batch1!r}")
        if self.vision not in VISION_BACKENDS:
            raise ModelArgError(f"vision must be one of {VISION_BACKENDS}, got {self.vision!r}")
        for name, allowed in SEMANTICS.items():
            if getattr(self, name) not in allowed:
                raise ModelArgError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.conv_template not in CONV_TEMPLATES:
            raise ModelArgError(f"conv_template must be one of {sorted(CONV_TEMPLATES)}, got {self.conv_template!r}")

    def torch_device(self, local_rank: int = 0) -> torch.device:
        if self.device in ("auto", ""):
            return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelArgError(f"device={self.device!r}: CUDA is not available here; use device=auto or device=cpu")
        if self.device == "cuda":
            return torch.device(f"cuda:{local_rank}")
        return torch.device(self.device)

    def static_decode(self, device: torch.device, generation: GenerationSettings) -> bool:
        """Whether this request group takes the static-cache greedy decoder."""
        greedy = not generation.sampling and generation.num_beams == 1
        return greedy and (self.decode == "static" or (self.decode == "auto" and device.type == "cuda"))

    def graphed_vision(self, device: torch.device) -> bool:
        """Whether the frame encoder replays CUDA graphs (``vision=graphed`` off CUDA is an error)."""
        if self.vision == "graphed" and device.type != "cuda":
            raise ModelArgError(f"vision=graphed needs a CUDA device, got {device}")
        return self.vision == "graphed" or (self.vision == "auto" and device.type == "cuda")

    def with_semantics(self, generation: GenerationSettings) -> GenerationSettings:
        """``generation`` read under this model's semantics switches.

        Upstream pops ``until`` and never applies it, and samples iff ``temperature > 0`` whatever
        ``do_sample`` says; ``stop_strings=apply`` / ``sample_rule=do_sample`` opt out.
        """
        changes: dict[str, Any] = {}
        if self.stop_strings == "ignore":
            changes["until"] = ()
        if self.sample_rule == "temperature":
            changes["do_sample"] = None
        return dataclasses.replace(generation, **changes)

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


# GenerationConfig fields that change greedy tokens, with their neutral values: when a checkpoint's
# generation_config.json sets one, greedy decoding must go through transformers' generate.
_GREEDY_NEUTRAL = {
    "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "bad_words_ids": None, "min_length": 0,
    "min_new_tokens": None, "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "sequence_bias": None, "exponential_decay_length_penalty": None,
}


def greedy_changes(config: GenerationConfig | None) -> list[str]:
    """Fields of ``config`` that alter plain greedy decoding (empty: the static decoder gives the same tokens)."""
    if config is None:
        return []
    return [name for name, neutral in _GREEDY_NEUTRAL.items() if getattr(config, name, neutral) not in (neutral, None)]


def cut_at_stop_strings(text: str, until: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in until) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
