"""Caption a batch of requests end to end, with per-sample efficiency stats.

One code path for the lmms-eval adapter and ``vdc-bench caption``:
decode visuals (CPU) -> CLIP preprocessing -> ViT+ToMe (one call per ratio, all frames of the batch)
-> projector -> splice at sentinels, left-pad -> ``generate``. A visual or prompt problem fails only its
own request (``CaptionResult.error`` names the file); the rest of the batch still runs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoTokenizer, LogitsProcessor, LogitsProcessorList

from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.checkpoint import CheckpointFiles, locate
from vdc_bench.models.auroracap.graphed_vision import GraphedFrameEncoder
from vdc_bench.models.auroracap.image_processing import FramePreprocessor, PreprocessConfig
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import IMAGE_TOKEN_INDEX, build_prompt, tokenize_with_sentinels
from vdc_bench.models.auroracap.random_checkpoint import MARKER
from vdc_bench.models.auroracap.settings import (
    AuroraCapSettings,
    GenerationSettings,
    cut_at_stop_strings,
    greedy_changes,
)
from vdc_bench.models.auroracap.static_decode import StaticKVDecoder
from vdc_bench.models.auroracap.video_io import DecodedVisual, load_visual


@dataclass
class CaptionRequest:
    context: str
    visuals: Sequence[Any]  # video/image paths or PIL images


@dataclass
class CaptionResult:
    text: str
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Prepared:
    """A request whose visuals decoded and whose prompt tokenised."""

    index: int
    input_ids: list[int]
    visuals: list[DecodedVisual]
    pixel_values: torch.Tensor  # (F, 3, S, S)
    slow_frames: list[int]  # frame positions encoded at ratio 1.0 (SlowFast)


class _FirstTokenClock(LogitsProcessor):
    """Records when the first next-token logits exist, i.e. the end of prefill (one sync, first step only)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.time: float | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.time is None:
            _sync(self.device)
            self.time = time.perf_counter()
        return scores


def _first_frames(visuals: list[DecodedVisual], used: int) -> list[DecodedVisual]:
    """The visuals cut down to their first ``used`` frames in order (fewer ``<image>`` than frames, as upstream)."""
    out = []
    for visual in visuals:
        keep = min(used, len(visual.frames))
        used -= keep
        if keep == len(visual.frames):
            out.append(visual)
        elif keep > 0:
            out.append(dataclasses.replace(visual, frames=visual.frames[:keep], frame_indices=visual.frame_indices[:keep]))
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class AuroraCapCaptioner:
    def __init__(self, settings: AuroraCapSettings, device: torch.device) -> None:
        self.settings = settings
        self.device = device
        self.dtype = settings.torch_dtype(device)
        self.files: CheckpointFiles = locate(settings.pretrained)
        self.model = AuroraCapModel.from_checkpoint(
            self.files, self.dtype, device, settings.attn_implementation, settings.proportional_attention
        )
        self.tokenizer = AutoTokenizer.from_pretrained(self.files.root)
        self._use_generation_config()
        vision_config = self.model.vision_tower.config
        self.preprocess = FramePreprocessor(
            PreprocessConfig.from_json(self.files.vision_dir / "preprocessor_config.json", vision_config.image_size)
        )
        marker = self.files.root / MARKER
        self.random_weights = marker.is_file() and bool(json.loads(marker.read_text()).get("random_weights"))
        self.context_limit = int(self.model.language_model.config.max_position_embeddings)
        self._decoder: StaticKVDecoder | None = None
        # The fast path (decode != hf) replays the frame encoder from CUDA graphs; hf keeps it eager.
        fast = device.type == "cuda" and settings.decode != "hf"
        self._frame_encoder = GraphedFrameEncoder(self.model) if fast else self.model.encode_frames

    def _use_generation_config(self) -> None:
        """Upstream loads the LLM with its generation_config.json, so generate() starts from it (the
        request's own settings override); its EOS ids end captions. Without one: the tokenizer's EOS."""
        config = self.files.generation_config() if self.settings.generation_config else None
        if config is not None:
            self.model.language_model.generation_config = config
        eos = config.eos_token_id if config is not None and config.eos_token_id is not None else None
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos)
        self.greedy_changes = greedy_changes(config)

    def _static_decoder(self) -> StaticKVDecoder:
        if self._decoder is None:
            self._decoder = StaticKVDecoder(self.model.language_model)
        return self._decoder

    def describe(self) -> dict[str, Any]:
        """Model-level facts for logs and results."""
        return {
            "checkpoint": str(self.files.root), "layout": self.files.layout, "random_weights": self.random_weights,
            "dtype": str(self.dtype).removeprefix("torch."), "device": str(self.device),
            "token_kept_ratio": self.settings.token_kept_ratio, "num_frm": self.settings.num_frm,
            "slowfast": self.settings.slowfast, "conv_template": self.settings.conv_template,
            "attn_implementation": self.settings.attn_implementation,
            "proportional_attention": self.settings.proportional_attention, "decode": self.settings.decode,
            # semantics switches (upstream's behaviour unless set otherwise)
            "stop_strings": self.settings.stop_strings, "sample_rule": self.settings.sample_rule,
            "frame_sampling": self.settings.frame_sampling, "image_placement": self.settings.image_placement,
            "generation_config": self.settings.generation_config,
        }

    def _prepare(self, index: int, request: CaptionRequest) -> _Prepared:
        append_last = self.settings.frame_sampling == "upstream"
        visuals = [load_visual(v, self.settings.num_frm, append_last) for v in request.visuals]
        prompt = build_prompt(
            request.context, [len(v.frames) for v in visuals], self.settings.conv_template, self.settings.image_placement
        )
        input_ids = tokenize_with_sentinels(self.tokenizer, prompt)
        visuals = _first_frames(visuals, input_ids.count(IMAGE_TOKEN_INDEX))
        frames_per_visual = [len(v.frames) for v in visuals]
        pixel_values = (
            torch.cat([self.preprocess(v.frames) for v in visuals]) if visuals else torch.empty(0, 3, 1, 1)
        )
        slow_frames = []
        if self.settings.slowfast:
            start = 0
            for n in frames_per_visual:
                if n > 1:  # SlowFast only applies to videos (spec §8)
                    slow_frames.append(start)
                start += n
        return _Prepared(index, input_ids, visuals, pixel_values, slow_frames)

    def _encode(self, prepared: list[_Prepared]) -> list[list[torch.Tensor]]:
        """Per request, one (n_i, hidden) tensor per frame; one encoder call per distinct ratio."""
        ratio = self.settings.token_kept_ratio
        groups: dict[float, list[tuple[int, int]]] = {}
        for row, item in enumerate(prepared):
            for frame in range(item.pixel_values.shape[0]):
                groups.setdefault(1.0 if frame in item.slow_frames else ratio, []).append((row, frame))
        out: list[list[torch.Tensor | None]] = [[None] * p.pixel_values.shape[0] for p in prepared]
        for group_ratio, members in groups.items():
            pixels = torch.stack([prepared[row].pixel_values[frame] for row, frame in members])
            tokens = self._frame_encoder(pixels, group_ratio)
            for (row, frame), frame_tokens in zip(members, tokens, strict=True):
                out[row][frame] = frame_tokens
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def prepare_batch(self, requests: Sequence[CaptionRequest]) -> tuple[list[CaptionResult], list[_Prepared]]:
        """The CPU half (video decode, CLIP preprocessing, tokenising): safe to run in a worker thread
        for the next batch while the GPU captions this one. Requests that fail carry their error."""
        # The ratio and the checkpoint's random-weights marker are settings, not measurements: recorded
        # for failed requests too, so a run's summary reads them back from the samples (and flags them).
        setting = {"token_kept_ratio": self.settings.token_kept_ratio, "random_weights": self.random_weights}
        results = [CaptionResult(text="", stats=dict(setting)) for _ in requests]
        prepared: list[_Prepared] = []
        for index, request in enumerate(requests):
            started = time.perf_counter()
            try:
                item = self._prepare(index, request)
            except VdcBenchError as err:
                results[index].error = str(err)
                continue
            decode_s = sum(v.decode_s for v in item.visuals)
            results[index].stats.update(  # CPU work per request: video decode, then CLIP preprocessing + tokenising
                decode_s=round(decode_s, 4), preprocess_s=round(time.perf_counter() - started - decode_s, 4)
            )
            prepared.append(item)
        return results, prepared

    @torch.inference_mode()
    def caption_batch(
        self,
        requests: Sequence[CaptionRequest],
        generation: GenerationSettings,
        prepared_batch: tuple[list[CaptionResult], list[_Prepared]] | None = None,
    ) -> list[CaptionResult]:
        """Caption ``requests``; ``prepared_batch`` is ``prepare_batch(requests)`` if already done."""
        results, prepared = prepared_batch or self.prepare_batch(requests)
        generation = self.settings.with_semantics(generation)
        if not prepared:
            return results

        device_stats = self.device.type == "cuda"
        if device_stats:
            torch.cuda.reset_peak_memory_stats(self.device)
        _sync(self.device)
        t0 = time.perf_counter()
        frame_tokens = self._encode(prepared)
        _sync(self.device)
        vit_s = time.perf_counter() - t0

        runnable, rows = [], []
        for item, tokens in zip(prepared, frame_tokens, strict=True):
            length = len(item.input_ids) - len(tokens) + sum(t.shape[0] for t in tokens)
            if length + generation.max_new_tokens > self.context_limit:
                results[item.index].error = (
                    f"{item.visuals[0].source if item.visuals else '<text>'}: prompt of {length} tokens + "
                    f"{generation.max_new_tokens} new tokens exceeds the {self.context_limit}-token context"
                )
                continue
            runnable.append(item)
            rows.append(tokens)
        if not runnable:
            return results

        inputs_embeds, attention_mask = self.model.embed_inputs([p.input_ids for p in runnable], rows)
        eos = self.eos_ids[0]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        t1 = time.perf_counter()
        static = self.settings.static_decode(self.device, generation) and not self.greedy_changes and len(self.eos_ids) == 1
        if static:
            # Stop strings are applied to the text below; greedy tokens before them are the same.
            sequences = [inputs_embeds[row, attention_mask[row].bool()] for row in range(len(runnable))]
            decoded = self._static_decoder().generate(sequences, generation.max_new_tokens, eos, pad)
            generated, prefill_s = decoded.tokens, decoded.prefill_s
            t2 = time.perf_counter()
        else:
            clock = _FirstTokenClock(self.device)
            gen_kwargs = generation.generate_kwargs()
            if generation.until:
                gen_kwargs.update(stop_strings=list(generation.until), tokenizer=self.tokenizer)
            generated = self.model.language_model.generate(
                inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                logits_processor=LogitsProcessorList([clock]), eos_token_id=self.eos_ids, pad_token_id=pad, **gen_kwargs,
            )
            _sync(self.device)
            t2 = time.perf_counter()
            generated = generated.cpu()
            prefill_s = (clock.time or t2) - t1
        steps = generated.shape[1]
        decode_rate = (steps - 1) / (t2 - t1 - prefill_s) if steps > 1 and t2 - t1 > prefill_s else None
        peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 if device_stats else None
        is_eos = torch.isin(generated, torch.tensor(self.eos_ids))
        for row, (item, tokens) in enumerate(zip(runnable, rows, strict=True)):
            ends = torch.nonzero(is_eos[row]).flatten()
            n_out = int(ends[0]) + 1 if len(ends) else steps
            text = self.tokenizer.decode(generated[row, :n_out], skip_special_tokens=True)
            text, stopped = cut_at_stop_strings(text, generation.until)
            per_frame = [int(t.shape[0]) for t in tokens]
            prompt_tokens = int(attention_mask[row].sum())
            result = results[item.index]
            result.text, result.input_tokens, result.output_tokens = text, prompt_tokens, n_out
            result.stats.update({
                "frames": len(per_frame),
                "frame_indices": [i for v in item.visuals for i in v.frame_indices],
                "total_frames": [v.total_frames for v in item.visuals],
                "frame_count_source": [v.frame_count_source for v in item.visuals],
                # A truncated/corrupt file is captioned from the frames that decode, and flagged.
                "frames_in_header": [v.frames_in_header for v in item.visuals],
                "video_damaged": any(v.damaged for v in item.visuals),
                "visual_tokens_per_frame": per_frame,
                "visual_tokens": sum(per_frame),
                "prompt_tokens": prompt_tokens,
                "output_tokens": n_out,
                "truncated": len(ends) == 0 and not stopped and n_out >= generation.max_new_tokens,
                "batch_size": len(runnable),
                # fp16 greedy tokens can depend on these (kernels, batch mates): results record them
                "dtype": str(self.dtype).removeprefix("torch."),
                "device": self.device.type,
                "decode": "static" if static else "hf",
                "vit_ms": round(vit_s * 1000, 3),
                "ttft_ms": round((vit_s + prefill_s) * 1000, 3),
                "prefill_ms": round(prefill_s * 1000, 3),
                "gen_s": round(t2 - t1, 4),
                "decode_tok_per_s": None if decode_rate is None else round(decode_rate, 3),
                "peak_mem_mb": None if peak_mb is None else round(peak_mb, 1),
            })
        return results
