"""The transformers baselines of the GPU benchmark, one fresh process each, on the bench's weights and inputs.

Kinds:

* ``dynamic``: ``generate`` with the default dynamic cache (host-bound: ~1,000 small kernel launches per
  step from Python). At ratio 1.0 ``LlavaForConditionalGeneration.generate`` itself (it can run
  AuroraCap unchanged); below 1.0 the language model's ``generate`` on our ToMe features, which is what
  the upstream wrapper does.
* ``static-compiled``: the library's best path: the language model's ``generate`` with
  ``cache_implementation="static"`` and an explicit ``CompileConfig`` (``torch.compile`` of the decode
  forward, inductor, mode reduce-overhead = CUDA graphs), on our features at every ratio. Compilation
  and graph recording happen in an untimed warm-up run of the full length (its static cache is sized by the
  length, so a shorter warm-up would compile for another shape).

Each runs greedy, forced to ``new_tokens``, at batch 1 and at ``--batch`` (the same input repeated).
The weights are the bench's (same seed, same shape), the inputs the bench's for (frames, ratio).
A fresh process per baseline: the dynamic baseline measured 24-72 ms/token in different processes on
one H100 (results/gpu_bench/README.md); nothing of ours is compiled or captured in its process.

Run by ``python -m vdc_bench.gpu_bench`` (``--baseline``); alone:
``python -m vdc_bench.gpu_bench.baseline --kind dynamic --frames 16 --ratio 0.4 --output b.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import LlavaConfig, LlavaForConditionalGeneration, LogitsProcessor
from transformers.generation.configuration_utils import CompileConfig

from vdc_bench.gpu_bench.inputs import build_model, card_name, make_inputs, sync
from vdc_bench.gpu_bench.options import BASELINE_KINDS
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import IMAGE_TOKEN_INDEX

TOP_K = 5  # logits kept per step of the batch-1 run, to measure the margin where two paths part


def build_llava(model: AuroraCapModel, image_token_id: int) -> LlavaForConditionalGeneration:
    """transformers' LLaVA sharing our tensors (no copy): the stock runtime, without ToMe."""
    config = LlavaConfig(
        vision_config=model.vision_tower.config, text_config=model.language_model.config,
        image_token_index=image_token_id, projector_hidden_act="gelu", vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    with torch.device("meta"):
        llava = LlavaForConditionalGeneration(config)
    expected = set(llava.state_dict())
    state = {f"model.language_model.{k[len('model.'):]}": v for k, v in model.language_model.state_dict().items()
             if k.startswith("model.")}
    state["lm_head.weight"] = model.language_model.lm_head.weight
    for key, value in model.vision_tower.state_dict().items():
        # transformers >= 5.2x nests CLIPVisionTransformer directly (no ``vision_model.`` level)
        target = f"model.vision_tower.{key}"
        state[target if target in expected else f"model.vision_tower.{key.removeprefix('vision_model.')}"] = value
    names = {"model.0.": "model.multi_modal_projector.linear_1.", "model.2.": "model.multi_modal_projector.linear_2."}
    state.update({names[k[:8]] + k[8:]: v for k, v in model.projector.state_dict().items()})
    llava.load_state_dict(state, assign=True)
    llava.model.language_model.rotary_emb = type(llava.model.language_model.rotary_emb)(
        config=model.language_model.config).to(model.device)
    tower = llava.model.vision_tower
    emb = getattr(tower, "vision_model", tower).embeddings
    emb.position_ids = torch.arange(emb.num_positions, device=model.device).expand((1, -1))
    return llava.eval()


class _Clock(LogitsProcessor):
    """Records when the first logits exist (end of prefill)."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids, scores):
        if self.first is None:
            sync()
            self.first = time.perf_counter()
        return scores


def _runner(kind: str, model: AuroraCapModel, pixels: torch.Tensor, ids: list[int], ratio: float):
    """A function (clock, new_tokens, batch, keep_scores) -> generate output, for this kind and input."""
    device, vocab = model.device, model.language_model.config.vocab_size
    forced = {"do_sample": False, "num_beams": 1, "pad_token_id": 0}
    if kind == "dynamic" and ratio == 1.0:
        llava = build_llava(model, vocab - 1)
        features = model.encode_frames(pixels, ratio)
        image_id = vocab - 1  # an existing row stands in for <image>: only timing and argmax matter
        expanded = []
        for t in ids:
            expanded += [image_id] * int(features.shape[1]) if t == IMAGE_TOKEN_INDEX else [t]
        llava_ids = torch.tensor([expanded], device=device)

        def run(clock, new_tokens, batch, keep_scores):
            return llava.generate(
                input_ids=llava_ids.expand(batch, -1), pixel_values=pixels.repeat(batch, 1, 1, 1),
                max_new_tokens=new_tokens, min_new_tokens=new_tokens, logits_processor=[clock],
                output_scores=keep_scores, return_dict_in_generate=True, **forced)
        return run

    extra = {"cache_implementation": "static", "compile_config": CompileConfig()} if kind == "static-compiled" else {}

    def run(clock, new_tokens, batch, keep_scores):
        emb, mask = model.embed_inputs([ids] * batch, [list(model.encode_frames(pixels, ratio))] * batch)
        return model.language_model.generate(
            inputs_embeds=emb, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
            logits_processor=[clock], output_scores=keep_scores, return_dict_in_generate=True, **forced, **extra)
    return run


def measure(kind: str, model: AuroraCapModel, pixels, ids, ratio: float, new_tokens: int, batches: list[int],
            repeats: int) -> dict:
    """Median seconds per run at each batch; batch 1's tokens and top-k logits per step."""
    run = _runner(kind, model, pixels, ids, ratio)
    out: dict = {"kind": kind, "rows": []}
    for batch in batches:
        torch.cuda.reset_peak_memory_stats() if model.device.type == "cuda" else None
        # Warm-up: the compiled kind's of the full length (compilation and graph recording for the very
        # cache shape timed next); the dynamic kind needs a few tokens only.
        run(_Clock(), new_tokens if kind == "static-compiled" else 8, batch, False)
        times, result = [], None
        for _ in range(repeats):
            clock = _Clock()
            sync()
            t0 = time.perf_counter()
            result = run(clock, new_tokens, batch, batch == 1)
            sync()
            times.append((clock.first - t0, time.perf_counter() - t0))
        caption_s = statistics.median(t[1] for t in times)
        peak = torch.cuda.max_memory_allocated() / 1e9 if model.device.type == "cuda" else 0.0
        out["rows"].append({"batch": batch, "ttft_s": statistics.median(t[0] for t in times), "run_s": caption_s,
                            "captions_per_s": batch / caption_s, "peak_gb": peak})
        if batch == 1:
            top = [step[0].float().topk(TOP_K) for step in result.scores]
            out["tokens"] = result.sequences[0, -new_tokens:].tolist()
            out["top_ids"] = [t.indices.tolist() for t in top]
            out["top_logits"] = [t.values.tolist() for t in top]
        result = None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vdc_bench.gpu_bench.baseline", description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=BASELINE_KINDS, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--ratio", type=float, required=True)
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (1 gives the token check)")
    p.add_argument("--new-tokens", type=int, default=300)
    p.add_argument("--text-tokens", type=int, default=40)
    p.add_argument("--dtype", default="float16")
    p.add_argument("--size", default="7b-shape")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--output", dest="out", metavar="FILE", type=Path, required=True, help="result JSON")
    args = p.parse_args(argv)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = dtype != torch.float32
    model = build_model(device, dtype, args.size)
    inp = make_inputs(model, args.frames, args.ratio, args.text_tokens)
    with torch.no_grad():  # not inference_mode: tensors made under it cannot enter torch.compile's graphs
        result = measure(args.kind, model, inp.pixels, inp.ids, args.ratio, args.new_tokens,
                         [int(b) for b in args.batch.split(",")], args.repeats)
    import transformers

    result.update(frames=args.frames, ratio=args.ratio, new_tokens=args.new_tokens, dtype=args.dtype,
                  device=card_name(device), torch=torch.__version__, transformers=transformers.__version__)
    args.out.write_text(json.dumps(result))
    print(f"[baseline] {args.kind} {args.frames}f ratio {args.ratio}: "
          + ", ".join(f"batch {r['batch']} {r['run_s']:.2f} s" for r in result["rows"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
