"""lmms-eval model ``auroracap`` (simple interface): batching, data parallelism, per-sample stats.

Requests are grouped by gen_kwargs (lmms-eval's Collator) and each group streams through
AuroraCapCaptioner with ``batch_size`` requests in flight (continuous batching on the static decoder). Under torchrun/accelerate each rank holds the model on its own device; lmms-eval
shards the requests. A sample whose video/image cannot be used returns "" with its error recorded in
``vdc_bench.sample_stats`` (VDC tasks put it in the sample), and the failed count goes to ``log_metrics``.
With ``VDC_CAPTION_CACHE`` set, every finished caption is stored there at once and a request found there is
not generated again (caption_cache.py): a killed run resumes with only the missing captions.
"""

from __future__ import annotations

import dataclasses
import os
import time

import torch
from accelerate import Accelerator
from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.api.model import lmms
from lmms_eval.models.model_utils.gen_metrics import log_metrics
from lmms_eval.utils import Collator
from tqdm import tqdm

from vdc_bench import sample_stats
from vdc_bench.logs import logger
from vdc_bench.models.auroracap import caption_cache
from vdc_bench.models.auroracap.caption_cache import CachedCaption, CaptionCache
from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest, CaptionResult
from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings

_MEANS = ("frames", "visual_tokens", "vit_ms", "ttft_ms", "prefill_ms", "decode_tok_per_s", "decode_s", "preprocess_s",
          "peak_mem_mb")


class AuroraCap(lmms):
    is_simple = True

    def __init__(self, **model_args) -> None:
        super().__init__()
        model_args.pop("max_batch_size", None)  # lmms-eval passes it; batching is ours
        settings = AuroraCapSettings.from_model_args(model_args)
        self.accelerator = Accelerator()
        self._device = settings.torch_device(self.accelerator.local_process_index)
        if self.accelerator.num_processes > 1:
            self._rank = self.accelerator.process_index
            self._world_size = self.accelerator.num_processes
        self.captioner = AuroraCapCaptioner(settings, self._device)
        self.batch_size_per_rank = settings.batch_size
        info = self.captioner.describe()
        if info["random_weights"]:
            logger.warning(f"{info['checkpoint']} holds RANDOM weights: captions are gibberish, not AuroraCap results")
        logger.info(f"auroracap rank {self._rank}/{self._world_size}: {info}")
        self.cache: CaptionCache | None = None
        self._cache_opened = False  # at the first request: lmms-eval sets the rank and world size after __init__

    def _open_cache(self) -> CaptionCache | None:
        folder = os.environ.get(caption_cache.ENV, "").strip()
        if not folder:
            logger.info(f"auroracap: no caption cache ({caption_cache.ENV} unset): a killed run starts over")
            return None
        # Batch mates can change fp16 greedy tokens: a caption is reused only under the same batching
        # (with batches of one, the process count cannot matter).
        batching = {"batch_size": self.batch_size_per_rank}
        if self.batch_size_per_rank > 1:
            batching["processes"] = self.world_size
        cache = CaptionCache(folder, {**self.captioner.configuration(), "batching": batching},
                             caption_cache.writer_name(self.rank))
        logger.info(f"auroracap rank {self.rank}: caption cache {cache.folder} holds {len(cache)} captions "
                    "of this configuration")
        return cache

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_rank

    def clean(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.captioner = None  # lmms.clean() only drops nn.Module attributes
        super().clean()

    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        if not self._cache_opened:
            self.cache, self._cache_opened = self._open_cache(), True
        collator = Collator([r.args for r in requests], lambda args: (-len(args[0]), args[0]), grouping=True)
        results: list[GenerationResult] = []
        failed = cached = 0
        finished: list[dict] = []
        started = time.perf_counter()
        pbar = tqdm(total=len(requests), disable=self.rank != 0, desc="AuroraCap responding")
        for group in collator.get_batched(n=0):  # n=0: one whole gen_kwargs group at a time
            generation, docs, batch = self._requests(group)
            outputs: list[GenerationResult | None] = [None] * len(batch)
            keys = self._cache_keys(docs, batch, generation)
            for index, key in enumerate(keys):
                hit = self.cache.get(key) if self.cache is not None else None
                if hit is not None:
                    sample_stats.record(docs[index], {**hit.stats, "cached": True})
                    outputs[index] = GenerationResult(hit.text, TokenCounts(hit.input_tokens, hit.output_tokens))
                    cached += 1
                    pbar.update(1)
            missing = [i for i, out in enumerate(outputs) if out is None]
            for j, out in self.captioner.caption_stream([batch[i] for i in missing], generation, self.batch_size):
                index = missing[j]
                out.stats["processes"] = self.world_size  # data-parallel ranks: they decide each batch's mates
                out.stats["cached"] = False
                if out.error:
                    failed += 1
                    logger.error(f"auroracap: sample failed: {out.error}")
                    sample_stats.record(docs[index], {**out.stats, "error": out.error})
                else:
                    sample_stats.record(docs[index], out.stats)
                    finished.append(out.stats)
                    self._store(keys[index], docs[index], out)
                outputs[index] = GenerationResult(out.text, TokenCounts(out.input_tokens, out.output_tokens))
                pbar.update(1)
            results.extend(outputs)
        pbar.close()
        if self.cache is not None:
            logger.info(f"auroracap rank {self.rank}: {cached} of {len(requests)} captions from the caption cache, "
                        f"{len(requests) - cached} generated")
        self._log_metrics(len(requests), failed, cached, finished, time.perf_counter() - started)
        return collator.get_original(results)

    def _cache_keys(self, docs: list[dict], batch: list[CaptionRequest], generation: GenerationSettings) -> list:
        if self.cache is None:
            return [None] * len(batch)
        settings = self.captioner.settings.with_semantics(generation)
        gen = {**dataclasses.asdict(settings), "decode": self.captioner.decode_path(generation)}
        return [self.cache.key(sample_stats.sample_key(doc), request.visuals, request.context, gen)
                for doc, request in zip(docs, batch, strict=True)]

    def _store(self, key: str | None, doc: dict, out: CaptionResult) -> None:
        if self.cache is not None and key is not None:
            self.cache.put(key, sample_stats.sample_key(doc),
                           CachedCaption(out.text, out.input_tokens, out.output_tokens, out.stats))

    def _requests(self, chunk) -> tuple[GenerationSettings, list[dict], list[CaptionRequest]]:
        contexts, all_gen_kwargs, doc_to_visuals, doc_ids, tasks, splits = zip(*chunk, strict=True)
        generation = GenerationSettings.from_gen_kwargs(all_gen_kwargs[0])
        docs = [self.task_dict[t][s][d] for t, s, d in zip(tasks, splits, doc_ids, strict=True)]
        batch = [
            CaptionRequest(context, _as_list(to_visual(doc)))
            for context, to_visual, doc in zip(contexts, doc_to_visuals, docs, strict=True)
        ]
        return generation, docs, batch

    def _log_metrics(self, total: int, failed: int, cached: int, finished: list[dict], elapsed: float) -> None:
        """Means over the captions generated now (cached ones were timed by the run that made them)."""
        if failed:
            logger.warning(f"auroracap: {failed} of {total} samples failed on rank {self.rank} (see the samples' errors)")
        gen_tokens = sum(s["output_tokens"] for s in finished)
        extra: dict[str, float] = {"total_requests": total, "failed_requests": failed, "cached_requests": cached}
        for key in _MEANS:
            values = [s[key] for s in finished if s.get(key) is not None]
            if values:
                extra[key] = sum(values) / len(values)
        per_frame = [n for s in finished for n in s["visual_tokens_per_frame"]]
        if per_frame:
            extra["visual_tokens_per_frame"] = sum(per_frame) / len(per_frame)
        log_metrics(
            total_elapsed_time=elapsed, total_gen_tokens=gen_tokens,
            avg_speed=gen_tokens / elapsed if elapsed > 0 else 0.0, additional_metrics=extra,
        )

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError("auroracap implements generate_until only (no loglikelihood tasks)")

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("auroracap implements generate_until only (no multi-round tasks)")


def _as_list(visuals) -> list:
    if visuals is None:
        return []
    return list(visuals) if isinstance(visuals, (list, tuple)) else [visuals]
