"""``vdc-bench make-checkpoint``: a random-weight AuroraCap checkpoint in the xtuner or LLaVA layout.

For tests, demos and GPU benchmarks only: the weights are random, so captions are gibberish and must
never be scored as AuroraCap (the directory carries a RANDOM_WEIGHTS.json marker).
"""

from __future__ import annotations

from pathlib import Path

from vdc_bench.cli_options import deprecated_alias


def register(sub) -> None:
    p = sub.add_parser("make-checkpoint", help="write a random-weight AuroraCap checkpoint in a real layout")
    p.add_argument("--layout", choices=("xtuner", "hf"), default="xtuner",
                   help="xtuner (AuroraCap release) or hf (LLaVA-style single folder)")
    p.add_argument("--size", choices=("tiny", "tiny-geometry", "tiny-tome", "7b-shape"), default="tiny",
                   help="tiny (CPU tests), tiny-geometry (tiny widths, real 378 px / 32 blocks), tiny-tome (84 px: "
                        "ToMe merges several tokens per block), 7b-shape (real shapes)")
    p.add_argument("--init", choices=("llama", "realistic"), default="llama",
                   help="llama (norms 1, biases 0, N(0, 0.02^2)) or realistic (every tensor informative: "
                        "equivalence tests notice a dropped bias or a swapped norm)")
    p.add_argument("--output", dest="out", metavar="DIR", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.add_argument("--device", default="cpu", help="where the random tensors are drawn (cuda for 7b-shape)")
    deprecated_alias(p, "--out", "--output")
    p.set_defaults(func=run)


def run(args) -> int:
    from vdc_bench.atomic_write import ensure_output_folder
    from vdc_bench.errors import VdcBenchError
    from vdc_bench.models.auroracap.random_checkpoint import make_checkpoint

    if args.out.is_dir() and any(args.out.iterdir()):
        raise VdcBenchError(f"{args.out}: output directory is not empty")
    ensure_output_folder(args.out, "checkpoint folder")
    out = make_checkpoint(args.out, args.layout, args.size, seed=args.seed, device=args.device, init=args.init)
    print(f"wrote random {args.size} AuroraCap checkpoint ({args.layout} layout, {args.init} init) to {out}")
    return 0
