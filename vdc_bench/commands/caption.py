"""``vdc-bench caption FILE``: caption one video or image with AuroraCap (the quick-start use).

Same code path as the lmms-eval adapter (AuroraCapCaptioner); prints the caption, then the
efficiency stats as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vdc_bench.models.auroracap.arg_names import DEFAULT_TOKEN_KEPT_RATIO


def register(sub) -> None:
    p = sub.add_parser("caption", help="caption one video or image with AuroraCap and print efficiency stats")
    p.add_argument("visual", type=Path, help="video (mp4/mkv/webm/mpg/avi/...) or image file")
    p.add_argument("--pretrained", required=True, help="checkpoint directory (xtuner or LLaVA layout) or hub id")
    p.add_argument("--prompt", default="Describe the video in detail.")
    p.add_argument("--num_frm", type=int, default=8)
    p.add_argument("--token_kept_ratio", type=float, default=DEFAULT_TOKEN_KEPT_RATIO)
    p.add_argument("--slowfast", action="store_true")
    p.add_argument("--conv_template", default="vicuna_v1", help="vicuna_v1 (lmms-eval) or plain (inference.py)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--attn_implementation", default="sdpa")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top_p", type=float, default=None)
    p.add_argument("--num_beams", type=int, default=1)
    p.add_argument("--max_new_tokens", type=int, default=1024)
    p.set_defaults(func=run)


def run(args) -> int:
    from vdc_bench.errors import VdcBenchError
    from vdc_bench.models.auroracap.captioner import AuroraCapCaptioner, CaptionRequest
    from vdc_bench.models.auroracap.settings import AuroraCapSettings, GenerationSettings

    settings = AuroraCapSettings.from_model_args({
        "pretrained": args.pretrained, "token_kept_ratio": args.token_kept_ratio, "num_frm": args.num_frm,
        "slowfast": args.slowfast, "conv_template": args.conv_template, "dtype": args.dtype, "device": args.device,
        "attn_implementation": args.attn_implementation,
    })
    generation = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                    top_p=args.top_p, num_beams=args.num_beams)
    captioner = AuroraCapCaptioner(settings, settings.torch_device())
    if captioner.random_weights:
        print(f"warning: {captioner.files.root} holds RANDOM weights; the caption is gibberish", file=sys.stderr)
    result = captioner.caption_batch([CaptionRequest(args.prompt, [args.visual])], generation)[0]
    if result.error:
        raise VdcBenchError(result.error)
    print(result.text)
    print(json.dumps({"model": captioner.describe(), "stats": result.stats}, indent=2), file=sys.stderr)
    return 0
