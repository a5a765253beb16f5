"""fp16 agreement of AuroraCap paths with an fp32 reference, on random weights of the real shapes.

In fp16 the r-th and (r+1)-th best ToMe scores often tie, and which token merges then depends on
rounding, so token-for-token equality with any other fp16 implementation (upstream included) cannot
be promised. This measures how close the paths are instead, per ``token_kept_ratio``:

* tower alone (ViT-H/14 at 378 px, 32 blocks): per merge step, whether the merge decisions (which A
  tokens merge, into which B token) equal the fp32 reference's (a frame's steps after its first
  difference count as different); how often the r-th and (r+1)-th scores tie exactly; cosine
  similarity of the features (token by token where every merge matched, of the mean token otherwise);
* whole model (Vicuna-7B shape): greedy tokens of each request, exact match and agreeing prefix.

Paths: ``fp32`` (reference: fp32 weights and math, TF32 off, the torch merge, transformers'
``generate``), ``eager16`` (fp16, the torch merge, ``generate``: the ``decode=hf`` path) and, on CUDA,
``cuda16`` (fp16, Triton merge in the CUDA-graphed encoder, the static decoder: the default CUDA
path). Random weights use the informative ``realistic`` init. Run: ``python -m
vdc_bench.gpu_bench.agreement --out DIR``; writes ``agreement.json`` and ``agreement.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import CLIPVisionConfig, LlamaConfig

from vdc_bench.models.auroracap import tome, vision_tower
from vdc_bench.models.auroracap.merge_schedule import protected_cap
from vdc_bench.models.auroracap.modeling import AuroraCapModel
from vdc_bench.models.auroracap.prompting import IMAGE_TOKEN_INDEX
from vdc_bench.models.auroracap.random_checkpoint import SIZES, random_state_dicts

NEAR_TIE = 2**-10  # fp16 spacing of numbers in [0.5, 1): cosine scores closer than this can swap in fp16


@contextlib.contextmanager
def merge_path(triton: bool):
    """The torch merge (``triton=False``) or the Triton one where the device has it."""
    original = tome.fused_merge
    if not triton:
        tome.fused_merge = lambda device: None
    try:
        yield
    finally:
        tome.fused_merge = original


@contextlib.contextmanager
def recorded_merges(log: list):
    """Record each merge step: (is_src (N, tA) bool, dst (N, tA), exact tie at r (N,), score margin at r (N,))."""
    original = vision_tower.merge_step

    def recording(x, size, metric, r, protect_cls=True):
        capped = protected_cap(x.shape[1], r, protect_cls)
        if capped > 0:
            score, dst = tome.match(metric, protect_cls)
            is_src = tome.descending_rank(score) < capped
            ordered = score.sort(dim=-1, descending=True).values
            margin = (ordered[:, capped - 1] - ordered[:, min(capped, score.shape[1] - 1)]).float()
            margin = torch.where(torch.tensor(capped < score.shape[1], device=margin.device), margin, torch.inf)
            log.append((is_src.cpu(), torch.where(is_src, dst, -1).cpu(), (margin == 0).cpu(), margin.cpu()))
        return original(x, size, metric, r, protect_cls)

    vision_tower.merge_step = recording
    try:
        yield
    finally:
        vision_tower.merge_step = original


def smooth_frames(n: int, size: int, seed: int) -> torch.Tensor:
    """CLIP-normalised frames with structure (upsampled coarse noise + fine noise), so merges mean something."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 7, 7, generator=gen)
    frames = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    frames = (frames + 0.03 * torch.randn(n, 3, size, size, generator=gen)).clamp(0, 1)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    return (frames - mean) / std


def merge_agreement(ref: list, other: list) -> dict:
    """Compare per-step decisions frame by frame; steps after a frame's first difference count as different."""
    frames = ref[0][0].shape[0]
    same_steps, all_same_frames, first_diff, at_tie, near_tie, dst_only = 0, 0, [], 0, 0, 0
    for f in range(frames):
        diverged = None
        for step, (a, b) in enumerate(zip(ref, other, strict=True)):
            if not (torch.equal(a[0][f], b[0][f]) and torch.equal(a[1][f], b[1][f])):
                diverged = step
                break
        same_steps += len(ref) if diverged is None else diverged
        all_same_frames += diverged is None
        if diverged is not None:
            first_diff.append(diverged + 1)
            at_tie += bool(other[diverged][2][f] or ref[diverged][2][f])
            near_tie += bool(ref[diverged][3][f] < NEAR_TIE)
            dst_only += torch.equal(ref[diverged][0][f], other[diverged][0][f])
    return {
        "identical_merge_steps": round(same_steps / (frames * len(ref)), 4),
        "frames_all_merges_identical": round(all_same_frames / frames, 4),
        "first_different_block": sorted(first_diff),
        # the first difference falls on a step whose r-th and (r+1)-th scores tie exactly (either side)
        "first_differences_at_a_tie": f"{at_tie}/{len(first_diff)}",
        # ... or whose reference (fp32) margin there is below fp16's resolution near 1
        "first_differences_at_a_near_tie": f"{near_tie}/{len(first_diff)}",
        # ... or where the same tokens merge but one of them into another B token (its best match flipped)
        "first_differences_destination_only": f"{dst_only}/{len(first_diff)}",
    }


def feature_cosine(ref: torch.Tensor, other: torch.Tensor, identical: list[bool]) -> dict:
    ref, other = ref.double().cpu(), other.double().cpu()
    per_token = [F.cosine_similarity(ref[f], other[f], dim=-1) for f in range(ref.shape[0]) if identical[f]]
    pooled = F.cosine_similarity(ref.mean(1), other.mean(1), dim=-1)
    return {
        "token_cosine_mean": round(float(torch.cat(per_token).mean()), 6) if per_token else None,
        "token_cosine_min": round(float(torch.cat(per_token).min()), 6) if per_token else None,
        "mean_token_cosine_min": round(float(pooled.min()), 6),
        "mean_token_cosine_mean": round(float(pooled.mean()), 6),
    }


def encode(model: AuroraCapModel, pixels: torch.Tensor, ratio: float, triton: bool) -> tuple[torch.Tensor, list]:
    log: list = []
    with merge_path(triton), recorded_merges(log), torch.inference_mode():
        features = model.vision_tower(pixels.to(model.device, model.dtype), ratio)
    return features.float(), log


def token_agreement(ref: list[list[int]], other: list[list[int]]) -> dict:
    prefixes = []
    for a, b in zip(ref, other, strict=True):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        prefixes.append(n / max(len(a), 1))
    return {"exact": round(sum(a == b for a, b in zip(ref, other, strict=True)) / len(ref), 4),
            "agreeing_prefix_mean": round(sum(prefixes) / len(prefixes), 4)}


def until_eos(rows: torch.Tensor, eos: int) -> list[list[int]]:
    out = []
    for row in rows.tolist():
        out.append(row[: row.index(eos) + 1] if eos in row else row)
    return out


def generate(model: AuroraCapModel, prompts: list[list[int]], pixels: list[torch.Tensor], ratio: float,
             path: str, max_new: int, eos: int, pad: int) -> list[list[int]]:
    from vdc_bench.models.auroracap.graphed_vision import GraphedFrameEncoder
    from vdc_bench.models.auroracap.static_decode import StaticKVDecoder

    with torch.inference_mode():
        if path == "cuda16":
            with merge_path(True):
                encoder = GraphedFrameEncoder(model)
                frames = [list(encoder(p, ratio)) for p in pixels]
            embeds, mask = model.embed_inputs(prompts, frames)
            decoder = StaticKVDecoder(model.language_model)
            sequences = [embeds[row, mask[row].bool()] for row in range(len(prompts))]
            tokens = decoder.generate(sequences, max_new, eos, pad).tokens
            decoder.release()
        else:
            with merge_path(False):
                frames = [list(model.encode_frames(p, ratio)) for p in pixels]
            embeds, mask = model.embed_inputs(prompts, frames)
            tokens = model.language_model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new,
                                                   do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad)
    return until_eos(tokens.cpu(), eos)


def build(shape, states: dict, dtype: torch.dtype, device: torch.device) -> AuroraCapModel:
    copy = {part: dict(state) for part, state in states.items()}  # from_state_dicts consumes its input
    return AuroraCapModel.from_state_dicts(CLIPVisionConfig(**shape.vision), LlamaConfig(**shape.text), copy, dtype, device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fp16 vs fp32 agreement of AuroraCap paths (random weights)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", default="7b-shape", choices=sorted(SIZES))
    parser.add_argument("--tower-ratios", default="0.05,0.1,0.2,0.4,0.7,1.0")
    parser.add_argument("--model-ratios", default="0.1,0.4,1.0")
    parser.add_argument("--tower-frames", type=int, default=16)
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--frames", type=int, default=4, help="frames per request (whole-model check)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--commit", default="", help="git commit of the code, recorded in the results")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False  # the reference must be fp32 arithmetic
    torch.backends.cudnn.allow_tf32 = False
    shape = SIZES[args.size]
    started = time.perf_counter()
    states = random_state_dicts(shape, args.seed, device, init="realistic")
    image = shape.vision["image_size"]
    tower_pixels = smooth_frames(args.tower_frames, image, args.seed)
    gen = torch.Generator().manual_seed(args.seed + 1)
    vocab = shape.text["vocab_size"]
    prompts, request_pixels = [], []
    for i in range(args.requests):
        text = torch.randint(3, vocab, (8 + 5 * i,), generator=gen).tolist()
        prompts.append([1, *text[:4], *([IMAGE_TOKEN_INDEX] * args.frames), *text[4:]])
        request_pixels.append(smooth_frames(args.frames, image, args.seed + 10 + i))
    eos, pad = 2, 0
    paths = ["fp32", "eager16"] + (["cuda16"] if device.type == "cuda" else [])
    tower: dict = {}
    tokens: dict = {}
    errors: dict[str, str] = {}
    for path in paths:
        dtype = torch.float32 if path == "fp32" else torch.float16
        if path != "cuda16":  # cuda16 reuses the fp16 model
            model = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
            model = build(shape, states, dtype, device)
        for ratio in [float(r) for r in args.tower_ratios.split(",")]:
            triton = path == "cuda16"
            tower.setdefault(ratio, {})[path] = encode(model, tower_pixels, ratio, triton)
        for ratio in [float(r) for r in args.model_ratios.split(",")]:
            try:
                tokens.setdefault(ratio, {})[path] = generate(
                    model, prompts, [p.to(device) for p in request_pixels], ratio, path, args.max_new_tokens, eos, pad)
            except RuntimeError as err:  # recorded, so the tower figures still come back
                errors[f"{path} generate at {ratio}"] = str(err)[:500]
    del model
    results: dict = {"tower": {}, "model": {}}
    for ratio, by_path in tower.items():
        ref_features, ref_log = by_path["fp32"]
        entry = {"merge_steps_per_frame": len(ref_log),
                 "tokens_per_frame": int(ref_features.shape[1])}
        for path in paths[1:]:
            features, log = by_path[path]
            if not ref_log:
                entry[path] = {"identical_merge_steps": None, **feature_cosine(ref_features, features, [True] * len(features))}
                continue
            agree = merge_agreement(ref_log, log)
            identical = [all(torch.equal(a[0][f], b[0][f]) and torch.equal(a[1][f], b[1][f])
                             for a, b in zip(ref_log, log, strict=True)) for f in range(features.shape[0])]
            ties = torch.cat([step[2] for step in log]).float().mean().item()
            entry[path] = {**agree, "fp16_score_ties_at_r": round(ties, 4), **feature_cosine(ref_features, features, identical)}
        if len(paths) > 2:
            entry["cuda16_vs_eager16"] = merge_agreement(by_path["eager16"][1], by_path["cuda16"][1]) if ref_log else None
        entry["fp32_score_ties_at_r"] = round(torch.cat([s[2] for s in ref_log]).float().mean().item(), 4) if ref_log else None
        entry["fp32_margin_at_r_below_near_tie"] = (
            round(torch.cat([s[3] for s in ref_log]).lt(NEAR_TIE).float().mean().item(), 4) if ref_log else None)
        results["tower"][str(ratio)] = entry
    for ratio, by_path in tokens.items():
        entry = {"mean_tokens_fp32": round(sum(map(len, by_path["fp32"])) / len(by_path["fp32"]), 1)} if "fp32" in by_path else {}
        for a, b in (("eager16", "fp32"), ("cuda16", "fp32"), ("cuda16", "eager16")):
            if a in by_path and b in by_path:
                entry[f"{a}_vs_{b}"] = token_agreement(by_path[b], by_path[a])
        results["model"][str(ratio)] = entry
    import transformers

    results["environment"] = {
        "card": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
        "commit": args.commit, "size": args.size, "init": "realistic (random weights: not AuroraCap's outputs)",
        "seed": args.seed, "tower_frames": args.tower_frames, "requests": args.requests,
        "frames_per_request": args.frames, "max_new_tokens": args.max_new_tokens, "paths": paths,
        "seconds": round(time.perf_counter() - started, 1), "errors": errors,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "agreement.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "agreement.md").write_text(render(results))
    print(render(results))
    return 0


def render(results: dict) -> str:
    env = results["environment"]
    lines = [f"# fp16 agreement with the fp32 reference ({env['card']}, {env['size']}, random weights)", "",
             f"torch {env['torch']}, transformers {env['transformers']}, commit {env['commit'] or '?'}; "
             f"tower: {env['tower_frames']} frames; model: {env['requests']} requests x {env['frames_per_request']} "
             f"frames, {env['max_new_tokens']} new tokens at most.", "",
             "## Vision tower", "",
             "| ratio | tokens/frame | path | identical merge steps | frames all identical | fp16 ties at r | "
             "token cosine mean / min | mean-token cosine min |", "|---|---|---|---|---|---|---|---|"]
    for ratio, entry in results["tower"].items():
        for path in env["paths"][1:]:
            e = entry[path]
            lines.append(f"| {ratio} | {entry['tokens_per_frame']} | {path} | {e.get('identical_merge_steps')} | "
                         f"{e.get('frames_all_merges_identical', '-')} | {e.get('fp16_score_ties_at_r', '-')} | "
                         f"{e['token_cosine_mean']} / {e['token_cosine_min']} | {e['mean_token_cosine_min']} |")
    lines += ["", "First different merge step (block) per frame; how many of those steps had an exact tie between the "
              "r-th and (r+1)-th scores, and how many a reference margin there below 2^-10 (near tie):", ""]
    for ratio, entry in results["tower"].items():
        for path in env["paths"][1:]:
            e = entry[path]
            if e.get("first_different_block") is not None:
                lines.append(f"- {ratio} {path}: blocks {e['first_different_block']}; at an exact fp16 tie "
                             f"{e['first_differences_at_a_tie']}, at a near tie {e['first_differences_at_a_near_tie']}, "
                             f"same sources but another destination {e['first_differences_destination_only']}")
    lines += ["", "## Whole model: greedy tokens", "", "| ratio | pair | exact | agreeing prefix (mean) |", "|---|---|---|---|"]
    for ratio, entry in results["model"].items():
        for pair, e in entry.items():
            if isinstance(e, dict):
                lines.append(f"| {ratio} | {pair.replace('_vs_', ' vs ')} | {e['exact']} | {e['agreeing_prefix_mean']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
