"""Caption a stream of requests end to end, with per-sample efficiency stats.

One code path for the lmms-eval adapter and ``vdc-bench caption``:
decode visuals (CPU, a worker thread running ahead) -> CLIP preprocessing -> ViT+ToMe (one call per
ratio) -> projector -> splice at sentinels -> greedy decoding. On the static decoder the requests stream
through continuous batching (a finished row takes the next request); ``generate`` (sampling, beams,
``decode=hf``) gets left-padded batches of ``batch_size``. A visual or prompt problem fails only its own
request (``CaptionResult.error`` names the file); the rest still runs.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import platform
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoTokenizer, LogitsProcessor, LogitsProcessorList

from vdc_bench.errors import VdcBenchError
from vdc_bench.models.auroracap.caption_cache import code_digest
from vdc_bench.models.auroracap.checkpoint import CheckpointFiles, fingerprint, locate
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
from vdc_bench.models.auroracap.static_decode import DecodeRequest, StaticKVDecoder, batch1_kernels
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

    input_ids: list[int]
    visuals: list[DecodedVisual]
    pixel_values: torch.Tensor  # (F, 3, S, S)
    slow_frames: list[int]  # frame positions encoded at ratio 1.0 (SlowFast)


@dataclass
class _Encoded:
    """A prepared request with its visual tokens: ready for the language model."""

    prepared: _Prepared
    frame_tokens: list[torch.Tensor]  # one (n_i, hidden) tensor per frame
    vit_s: float  # wall time of the vision-encoder call that encoded this request (its batch)
    result: CaptionResult

    @property
    def prompt_tokens(self) -> int:
        ids = self.prepared.input_ids
        return len(ids) - len(self.frame_tokens) + sum(int(t.shape[0]) for t in self.frame_tokens)


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
        graphed = settings.graphed_vision(device)  # before loading: a bad vision= fails at once
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
        self._graphed = graphed
        self._frame_encoder = GraphedFrameEncoder(self.model) if graphed else self.model.encode_frames

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
            self._decoder = StaticKVDecoder(self.model.language_model, attention=self.settings.decode_attention,
                                            batch1=self.settings.decode_batch1)
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
            "decode_attention": self.settings.decode_attention, "vision": self.settings.vision,
            "decode_batch1": batch1_kernels(self.settings.decode_batch1, self.device),
            # semantics switches (upstream's behaviour unless set otherwise)
            "stop_strings": self.settings.stop_strings, "sample_rule": self.settings.sample_rule,
            "frame_sampling": self.settings.frame_sampling, "image_placement": self.settings.image_placement,
            "generation_config": self.settings.generation_config,
        }

    def configuration(self) -> dict[str, Any]:
        """Everything besides the request and the batching that decides a caption (the caption cache's key):
        the checkpoint by content, every setting, the resolved numerics, library versions and this code."""
        settings = dataclasses.asdict(self.settings)
        for name in ("pretrained", "device", "batch_size"):  # by content / resolved below / the caller's batching
            del settings[name]
        cuda = self.device.type == "cuda"
        return {
            "checkpoint": fingerprint(self.files.root),
            "settings": settings,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": torch.cuda.get_device_name(self.device) if cuda else f"cpu {platform.machine()}",
            "vision": "graphed" if self._graphed else "eager",
            "versions": {name: importlib.metadata.version(name) for name in ("torch", "transformers", "av")},
            "code": code_digest(),
        }

    def decode_path(self, generation: GenerationSettings) -> str:
        """``static`` or ``hf``: which decoder ``caption_stream`` uses for ``generation``."""
        return "static" if self._static(self.settings.with_semantics(generation)) else "hf"

    def _prepare(self, request: CaptionRequest) -> _Prepared:
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
        return _Prepared(input_ids, visuals, pixel_values, slow_frames)

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

    def _prepare_timed(self, index: int, request: CaptionRequest) -> tuple[int, _Prepared | None, CaptionResult]:
        """The CPU half of one request (video decode, CLIP preprocessing, tokenising); thread-safe."""
        # The ratio and the checkpoint's random-weights marker are settings, not measurements: recorded
        # for failed requests too, so a run's summary reads them back from the samples (and flags them).
        result = CaptionResult(text="", stats={"token_kept_ratio": self.settings.token_kept_ratio,
                                               "random_weights": self.random_weights})
        started = time.perf_counter()
        try:
            item = self._prepare(request)
        except VdcBenchError as err:
            result.error = str(err)
            return index, None, result
        decode_s = sum(v.decode_s for v in item.visuals)
        result.stats.update(  # CPU work per request: video decode, then CLIP preprocessing + tokenising
            decode_s=round(decode_s, 4), preprocess_s=round(time.perf_counter() - started - decode_s, 4)
        )
        return index, item, result

    def _prepared_stream(
        self, requests: Iterable[CaptionRequest], lookahead: int
    ) -> Iterator[tuple[int, _Prepared | None, CaptionResult]]:
        """``_prepare_timed`` of each request in order, run up to ``lookahead`` requests ahead in a worker
        thread (the GPU works meanwhile; bounded so decoded videos do not pile up in memory)."""
        pending = iter(enumerate(requests))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="auroracap-decode") as pool:
            futures = deque()

            def submit() -> None:
                nxt = next(pending, None)
                if nxt is not None:
                    futures.append(pool.submit(self._prepare_timed, *nxt))

            for _ in range(max(1, lookahead)):
                submit()
            while futures:
                done = futures.popleft().result()
                submit()
                yield done

    def _encode_timed(self, prepared: list[_Prepared], results: list[CaptionResult]) -> list[_Encoded]:
        """Vision encoder for ``prepared`` (one call per ratio); each request records the whole call's time."""
        _sync(self.device)
        started = time.perf_counter()
        frame_tokens = self._encode(prepared)
        _sync(self.device)
        vit_s = time.perf_counter() - started
        return [_Encoded(item, tokens, vit_s, result)
                for item, tokens, result in zip(prepared, frame_tokens, results, strict=True)]

    def _context_error(self, encoded: _Encoded, generation: GenerationSettings) -> str | None:
        if encoded.prompt_tokens + generation.max_new_tokens <= self.context_limit:
            return None
        visuals = encoded.prepared.visuals
        return (f"{visuals[0].source if visuals else '<text>'}: prompt of {encoded.prompt_tokens} tokens + "
                f"{generation.max_new_tokens} new tokens exceeds the {self.context_limit}-token context")

    def _finish(self, encoded: _Encoded, tokens: torch.Tensor, generation: GenerationSettings, timing: dict) -> None:
        """Text and stats of one request from its generated tokens (cut after the first EOS)."""
        ends = torch.nonzero(torch.isin(tokens, torch.tensor(self.eos_ids))).flatten()
        n_out = int(ends[0]) + 1 if len(ends) else len(tokens)
        text = self.tokenizer.decode(tokens[:n_out], skip_special_tokens=True)
        text, stopped = cut_at_stop_strings(text, generation.until)
        item, result = encoded.prepared, encoded.result
        per_frame = [int(t.shape[0]) for t in encoded.frame_tokens]
        result.text, result.input_tokens, result.output_tokens = text, encoded.prompt_tokens, n_out
        decode_s = timing["gen_s"] - timing["prefill_s"]
        decode_rate = (n_out - 1) / decode_s if n_out > 1 and decode_s > 0 else None
        peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
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
            "prompt_tokens": encoded.prompt_tokens,
            "output_tokens": n_out,
            "truncated": len(ends) == 0 and not stopped and n_out >= generation.max_new_tokens,
            "batch_size": timing["batch"],
            # fp16 greedy tokens can depend on these (kernels, batch mates): results record them
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "decode": timing["decode"],
            "vit_ms": round(encoded.vit_s * 1000, 3),
            "ttft_ms": round((encoded.vit_s + timing["prefill_s"]) * 1000, 3),
            "prefill_ms": round(timing["prefill_s"] * 1000, 3),
            "gen_s": round(timing["gen_s"], 4),
            "decode_tok_per_s": None if decode_rate is None else round(decode_rate, 3),
            "peak_mem_mb": None if peak_mb is None else round(peak_mb, 1),
        })

    def _generate_hf(self, batch: list[_Encoded], generation: GenerationSettings) -> None:
        """transformers ``generate`` on one left-padded batch; fills each request's result."""
        inputs_embeds, attention_mask = self.model.embed_inputs(
            [e.prepared.input_ids for e in batch], [e.frame_tokens for e in batch])
        eos = self.eos_ids[0]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        clock = _FirstTokenClock(self.device)
        gen_kwargs = generation.generate_kwargs()
        if generation.until:
            gen_kwargs.update(stop_strings=list(generation.until), tokenizer=self.tokenizer)
        started = time.perf_counter()
        generated = self.model.language_model.generate(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask,
            logits_processor=LogitsProcessorList([clock]), eos_token_id=self.eos_ids, pad_token_id=pad,
            **gen_kwargs,
        )
        _sync(self.device)
        gen_s = time.perf_counter() - started
        timing = {"prefill_s": (clock.time or started + gen_s) - started, "gen_s": gen_s, "batch": len(batch),
                  "decode": "hf"}
        for row, encoded in enumerate(batch):
            self._finish(encoded, generated[row].cpu(), generation, timing)

    def _stream_hf(
        self, requests: Iterable[CaptionRequest], generation: GenerationSettings, batch_size: int
    ) -> Iterator[tuple[int, CaptionResult]]:
        chunk: list[tuple[int, _Prepared, CaptionResult]] = []
        prepared = self._prepared_stream(requests, batch_size)
        for index, item, result in prepared:
            if item is None:
                yield index, result
                continue
            chunk.append((index, item, result))
            if len(chunk) == batch_size:
                yield from self._caption_chunk_hf(chunk, generation)
                chunk = []
        if chunk:
            yield from self._caption_chunk_hf(chunk, generation)

    def _caption_chunk_hf(self, chunk, generation: GenerationSettings) -> Iterator[tuple[int, CaptionResult]]:
        encoded = self._encode_timed([item for _, item, _ in chunk], [result for _, _, result in chunk])
        runnable = []
        for enc in encoded:
            enc.result.error = self._context_error(enc, generation)
            if enc.result.error is None:
                runnable.append(enc)
        if runnable:
            self._generate_hf(runnable, generation)
        for index, _, result in chunk:
            yield index, result

    def _stream_static(
        self, requests: Iterable[CaptionRequest], generation: GenerationSettings, batch_size: int
    ) -> Iterator[tuple[int, CaptionResult]]:
        """Continuous batching: a request is vision-encoded when the decoder pulls it into a free row."""
        admitted: list[tuple[int, _Encoded] | None] = []  # by the decoder's request index
        failed: list[tuple[int, CaptionResult]] = []  # found while the decoder pulled; yielded next

        def decode_requests() -> Iterator[DecodeRequest]:
            for index, item, result in self._prepared_stream(requests, batch_size):
                if item is None:
                    failed.append((index, result))
                    continue
                encoded = self._encode_timed([item], [result])[0]
                result.error = self._context_error(encoded, generation)
                if result.error:
                    failed.append((index, result))
                    continue
                embeds, _ = self.model.embed_inputs([item.input_ids], [encoded.frame_tokens])
                admitted.append((index, encoded))
                yield DecodeRequest(embeds[0], generation.max_new_tokens)

        decoder = self._static_decoder()
        for k, decoded in decoder.stream(decode_requests(), batch_size, self.eos_ids[0]):
            yield from failed
            failed.clear()
            index, encoded = admitted[k]
            admitted[k] = None  # its visual tokens can go
            timing = {"prefill_s": decoded.prefill_s, "gen_s": decoded.prefill_s + decoded.decode_s,
                      "batch": decoded.batch, "decode": "static"}
            self._finish(encoded, decoded.tokens, generation, timing)
            yield index, encoded.result
        yield from failed

    def _static(self, generation: GenerationSettings) -> bool:
        """The static decoder gives generate()'s greedy tokens only with one EOS id and no
        generation_config field that alters greedy decoding (a repetition penalty, ...): else hf."""
        return self.settings.static_decode(self.device, generation) and not self.greedy_changes and len(self.eos_ids) == 1

    @torch.inference_mode()
    def caption_stream(
        self, requests: Iterable[CaptionRequest], generation: GenerationSettings, batch_size: int
    ) -> Iterator[tuple[int, CaptionResult]]:
        """Caption ``requests`` (pulled lazily) with ``batch_size`` in flight; yields ``(index, result)`` as
        each finishes, not in request order. The model's semantics switches apply to ``generation`` here."""
        generation = self.settings.with_semantics(generation)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        if self._static(generation):
            yield from self._stream_static(requests, generation, batch_size)
        else:
            yield from self._stream_hf(requests, generation, batch_size)

    def caption_batch(self, requests: Sequence[CaptionRequest], generation: GenerationSettings) -> list[CaptionResult]:
        """Caption ``requests`` as one batch; results in request order."""
        results: list[CaptionResult | None] = [None] * len(requests)
        for index, result in self.caption_stream(requests, generation, max(1, len(requests))):
            results[index] = result
        return results  # type: ignore[return-value]
