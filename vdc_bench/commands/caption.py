"""``vdc-bench caption FILE``: caption one video or image with AuroraCap (the quick-start use).

Same code path as the lmms-eval adapter (AuroraCapCaptioner); prints the caption, then the
efficiency stats as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from vdc_bench.cli_options import deprecated_alias
from vdc_bench.commands.option_types import non_negative_float, positive_float, positive_int
from vdc_bench.models.auroracap.arg_names import DEFAULT_NUM_FRM, DEFAULT_TOKEN_KEPT_RATIO


def register(sub) -> None:
    p = sub.add_parser("caption", help="caption one video or image with AuroraCap and print efficiency stats")
    p.add_argument("visual", type=Path, help="video (mp4/mkv/webm/mpg/avi/...) or image file")
    p.add_argument("--pretrained", required=True, help="checkpoint directory (xtuner or LLaVA layout) or hub id")
    p.add_argument("--prompt", default="Describe the video in detail.", help="instruction given with the video")
    # The adapter's own defaults, as `--model auroracap` uses them
    p.add_argument("--num-frm", dest="num_frm", type=positive_int, default=DEFAULT_NUM_FRM,
                   help="frames sampled uniformly from the video")
    p.add_argument("--token-kept-ratio", dest="token_kept_ratio", type=float, default=DEFAULT_TOKEN_KEPT_RATIO,
                   help="ToMe: fraction of visual tokens kept per frame, 1.0 = no merging")
    p.add_argument("--slowfast", action="store_true", help="AuroraCap slow-fast frame sampling")
    p.add_argument("--conv-template", dest="conv_template", default="vicuna_v1", help="vicuna_v1 (lmms-eval) or plain (inference.py)")
    p.add_argument("--dtype", default="auto", help="auto, float16, bfloat16 or float32")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    p.add_argument("--attn-implementation", dest="attn_implementation", default="sdpa",
                   help="transformers attention implementation (sdpa, eager, flash_attention_2)")
    p.add_argument("--temperature", type=non_negative_float, default=0.0, help="0 = greedy decoding")
    p.add_argument("--top-p", dest="top_p", type=positive_float, default=None, help="nucleus sampling (with --temperature > 0)")
    p.add_argument("--num-beams", dest="num_beams", type=positive_int, default=1, help="beam search width")
    p.add_argument("--max-new-tokens", dest="max_new_tokens", type=positive_int, default=1024, help="caption length limit")
    for old in ("num_frm", "token_kept_ratio", "conv_template", "attn_implementation", "top_p", "num_beams",
                "max_new_tokens"):
        deprecated_alias(p, f"--{old}", "--" + old.replace("_", "-"))
    p.set_defaults(func=run)


def run(args) -> int:
    from vdc_bench.errors import VdcBenchError
    from vdc_bench.logs import logger
    from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
    from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings
    from vdc_bench.runs.lmms_runner import OFFLINE_ENV

    for key, value in OFFLINE_ENV.items():  # as `vdc-bench run`: a mistyped path is not tried on the Hub
        os.environ.setdefault(key, value)
    model_args = {
        "pretrained": args.pretrained, "token_kept_ratio": args.token_kept_ratio, "num_frm": args.num_frm,
        "slowfast": args.slowfast, "conv_template": args.conv_template, "dtype": args.dtype, "device": args.device,
        "attn_implementation": args.attn_implementation,
    }
    settings = AuroraCapSettings.from_model_args({k: v for k, v in model_args.items() if v is not None})
    generation = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                    top_p=args.top_p, num_beams=args.num_beams)
    captioner = AuroraCapCaptioner(settings, settings.torch_device())
    if captioner.random_weights:
        logger.warning(f"warning: {captioner.files.root} holds RANDOM weights; the caption is gibberish")
    result = captioner.caption_batch([CaptionRequest(args.prompt, [args.visual])], generation)[0]
    if result.error:
        raise VdcBenchError(result.error)
    print(result.text)
    print(json.dumps({"model": captioner.describe(), "stats": result.stats}, indent=2), file=sys.stderr)
    return 0
