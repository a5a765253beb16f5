"""``vdc-bench bench``: AuroraCap captioning speed on one GPU, fast path vs transformers ``generate``.

The same benchmark as ``python -m vdc_bench.gpu_bench`` (which runs on a GPU box without lmms-eval).
"""

from __future__ import annotations

from vdc_bench.gpu_bench.options import add_arguments


def register(sub) -> None:
    p = sub.add_parser("bench", help="GPU speed of AuroraCap-7B-shaped captioning vs the transformers baseline")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from vdc_bench.gpu_bench.run import bench

    return bench(args)
