"""lmms-eval model ``auroracap_imposed_lengths``: the AuroraCap adapter with VDC-like caption lengths imposed.

Random weights never emit EOS, so a speed run on them decodes every caption to ``max_new_tokens``, which
hides what continuous batching gains on real, ragged caption lengths. This GPU-box model is the adapter
unchanged except that each request's decoding stops after a length drawn for its document from
``vdc_bench.gpu_bench.lengths`` (the VDC reference-length model of the GPU benchmark): document ``i`` of
dimension ``d`` gets entry ``5 i + d`` of ``caption_lengths(5 n, seed)``, the draw the benchmark makes for
``5 n`` requests. The stop stands in for the EOS a real checkpoint would emit; it is no production option.

* The KV cache is sized as the real run sizes it (model arg ``kv_sizing=task``, the default): for the task's
  own ``max_new_tokens`` (VDC: 1024), since the adapter cannot know a caption's length in advance.
  ``kv_sizing=imposed`` sizes it for the imposed lengths only (as the benchmark's realistic-lengths mode).
* One difference from a real EOS remains: the decoder's host sees a row that reaches its length limit at
  that very step, but an EOS only at its next check (every 16 steps), so real captions hold their slot up
  to 15 steps longer.
* Needs the static decoder (CUDA, or ``decode=static``); anything else fails at start.

Model arg ``timeline=PATH`` writes, per ``generate_until`` call, the seconds at which each caption finished
and how long the decoder waited on the video-decoding thread for each request (JSON).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from lmms_eval.api.instance import GenerationResult, Instance

from vdc_bench.errors import VdcBenchError
from vdc_bench.gpu_bench.lengths import DIMENSIONS, caption_lengths
from vdc_bench.models.auroracap.lmms_adapter import AuroraCap
from vdc_bench.models.auroracap.settings import GenerationSettings
from vdc_bench.models.auroracap.static_decode import DecodeRequest

KV_SIZINGS = ("task", "imposed")


def imposed_length(task: str, doc_id: int, table: list[tuple[str, int]]) -> int:
    """The drawn length of document ``doc_id`` of VDC subtask ``task`` (``vdc_<dimension>``) in ``table``."""
    dimension = task.removeprefix("vdc_")
    if dimension not in DIMENSIONS:
        raise VdcBenchError(f"imposed lengths: task {task!r} is not a VDC dimension subtask (vdc_<{'|'.join(DIMENSIONS)}>)")
    drawn_dim, tokens = table[len(DIMENSIONS) * doc_id + DIMENSIONS.index(dimension)]
    assert drawn_dim == dimension  # caption_lengths draws the dimensions in turn
    return tokens


class AuroraCapImposedLengths(AuroraCap):
    def __init__(self, **model_args) -> None:
        self.lengths_seed = int(model_args.pop("lengths_seed", 0))
        self.kv_sizing = str(model_args.pop("kv_sizing", "task"))
        timeline = model_args.pop("timeline", None)
        self.timeline = Path(timeline) if timeline else None
        if self.kv_sizing not in KV_SIZINGS:
            raise VdcBenchError(f"kv_sizing={self.kv_sizing!r}: expected one of {', '.join(KV_SIZINGS)}")
        super().__init__(**model_args)
        captioner = self.captioner
        if not captioner._static(captioner.settings.with_semantics(GenerationSettings())):
            raise VdcBenchError("imposed lengths need the static decoder (a CUDA device, or model arg decode=static)")
        # Wrap three of the captioner's steps on this instance: its decoder's request stream (the lengths),
        # its prepared-request stream (waits on the decoding thread) and its output stream (finish times).
        self._decoder = captioner._static_decoder()
        self._decoder_stream, self._prepared_stream = self._decoder.stream, captioner._prepared_stream
        self._caption_stream = captioner.caption_stream
        self._decoder.stream = self._capped_stream
        captioner._prepared_stream = self._timed_prepared
        captioner.caption_stream = self._timed_captions
        self._caps: deque[int] = deque()
        self._rows = 0
        self._finished: list[float] = []
        self._waits: list[float] = []
        self._started = 0.0

    def _requests(self, chunk):
        if self._caps:
            raise VdcBenchError(f"imposed lengths: {len(self._caps)} length(s) of the last group unused")
        generation, docs, batch = super()._requests(chunk)
        doc_ids, tasks = [args[3] for args in chunk], [args[4] for args in chunk]
        table = caption_lengths(len(DIMENSIONS) * (max(doc_ids) + 1), seed=self.lengths_seed)
        self._caps = deque(min(generation.max_new_tokens, imposed_length(t, d, table))
                           for t, d in zip(tasks, doc_ids, strict=True))
        self._rows = min(self.batch_size, len(batch))
        return generation, docs, batch

    def _capped_stream(self, requests: Iterable[DecodeRequest], batch_size: int, eos_token_id: int):
        def capped() -> Iterator[DecodeRequest]:
            for k, request in enumerate(requests):
                if not self._caps:
                    raise VdcBenchError("imposed lengths: more decode requests than documents")
                if k == 0 and self.kv_sizing == "task":  # the cache the uncapped request (task's length) would get
                    self._decoder._ensure_buffers(self._rows, *self._decoder._sizes(request))
                yield DecodeRequest(request.embeds, self._caps.popleft())

        return self._decoder_stream(capped(), batch_size, eos_token_id)

    def _timed_prepared(self, requests, lookahead: int):
        stream = self._prepared_stream(requests, lookahead)
        while True:
            started = time.perf_counter()
            item = next(stream, None)
            if item is None:
                return
            self._waits.append(time.perf_counter() - started)
            yield item

    def _timed_captions(self, requests, generation, batch_size: int):
        for out in self._caption_stream(requests, generation, batch_size):
            self._finished.append(time.perf_counter() - self._started)
            yield out

    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        self._finished, self._waits, self._started = [], [], time.perf_counter()
        results = super().generate_until(requests)
        if self._caps:  # a request failed before decoding: the lengths after it went to the wrong documents
            raise VdcBenchError(f"imposed lengths: {len(self._caps)} length(s) unused (a request failed before decoding)")
        if self.timeline is not None:
            calls = json.loads(self.timeline.read_text()) if self.timeline.exists() else []
            calls.append({"requests": len(requests), "batch_size": self.batch_size, "kv_sizing": self.kv_sizing,
                          "lengths_seed": self.lengths_seed, "finished_s": [round(t, 4) for t in self._finished],
                          "input_waits_s": [round(t, 4) for t in self._waits]})
            self.timeline.write_text(json.dumps(calls) + "\n")
        return results
