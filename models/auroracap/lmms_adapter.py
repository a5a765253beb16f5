"""lmms-eval model ``auroracap`` (simple interface): batching, data parallelism, per-sample stats.

Requests are grouped by gen_kwargs (lmms-eval's Collator), batched with left padding, and captioned by
AuroraCapCaptioner. Under torchrun/accelerate each rank holds the model on its own device; lmms-eval
shards the requests. A sample whose video/image cannot be used returns "" with its error recorded in
``vdc_bench.sample_stats`` (VDC tasks put it in the sample), and the failed count goes to ``log_metrics``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import torch
from accelerate import Accelerator
from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.api.model import lmms
from lmms_eval.models.model_utils.gen_metrics import log_metrics
from lmms_eval.utils import Collator
from tqdm import tqdm

from vdc_bench import sample_stats
from vdc_bench.logs import logger
from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
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

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_rank

    def clean(self) -> None:
        self.captioner = None  # lmms.clean() only drops nn.Module attributes
        super().clean()

    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        collator = Collator([r.args for r in requests], lambda args: (-len(args[0]), args[0]), grouping=True)
        results: list[GenerationResult] = []
        failed = 0
        finished: list[dict] = []
        started = time.perf_counter()
        pbar = tqdm(total=len(requests), disable=self.rank != 0, desc="AuroraCap responding")
        # Video decoding of batch i+1 runs in a worker thread while batch i is on the device.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="auroracap-decode") as pool:
            pending = None
            for chunk in collator.get_batched(n=self.batch_size):
                upcoming = self._requests(chunk)
                upcoming = (*upcoming, pool.submit(self.captioner.prepare_batch, upcoming[2]))
                if pending is not None:
                    failed += self._caption(pending, results, finished, pbar)
                pending = upcoming
            if pending is not None:
                failed += self._caption(pending, results, finished, pbar)
        pbar.close()
        self._log_metrics(len(requests), failed, finished, time.perf_counter() - started)
        return collator.get_original(results)

    def _requests(self, chunk) -> tuple[GenerationSettings, list[dict], list[CaptionRequest]]:
        contexts, all_gen_kwargs, doc_to_visuals, doc_ids, tasks, splits = zip(*chunk, strict=True)
        generation = GenerationSettings.from_gen_kwargs(all_gen_kwargs[0])
        docs = [self.task_dict[t][s][d] for t, s, d in zip(tasks, splits, doc_ids, strict=True)]
        batch = [
            CaptionRequest(context, _as_list(to_visual(doc)))
            for context, to_visual, doc in zip(contexts, doc_to_visuals, docs, strict=True)
        ]
        return generation, docs, batch

    def _caption(self, pending, results: list[GenerationResult], finished: list[dict], pbar) -> int:
        """Caption one prepared batch; returns how many of its samples failed."""
        generation, docs, batch, prepared = pending
        failed = 0
        for doc, out in zip(docs, self.captioner.caption_batch(batch, generation, prepared.result()), strict=True):
            out.stats["processes"] = self.world_size  # data-parallel ranks: they decide each batch's mates
            if out.error:
                failed += 1
                logger.error(f"auroracap: sample failed: {out.error}")
                sample_stats.record(doc, {**out.stats, "error": out.error})
            else:
                sample_stats.record(doc, out.stats)
                finished.append(out.stats)
            results.append(GenerationResult(out.text, TokenCounts(out.input_tokens, out.output_tokens)))
            pbar.update(1)
        return failed

    def _log_metrics(self, total: int, failed: int, finished: list[dict], elapsed: float) -> None:
        if failed:
            logger.warning(f"auroracap: {failed} of {total} samples failed on rank {self.rank} (see the samples' errors)")
        gen_tokens = sum(s["output_tokens"] for s in finished)
        extra: dict[str, float] = {"total_requests": total, "failed_requests": failed}
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
