"""``python -m vdc_bench.gpu_bench ARGS`` with ``decode_gemv.LAUNCH`` taken from a ``gemv_shapes.json``'s
``best_launch``: times the decoder at the launch settings a sweep just found, before they become the defaults.

    python -m gpu_box.with_launch GEMV_SHAPES_JSON ARGS...
"""

from __future__ import annotations

import json
import runpy
import sys

from vdc_bench.models.auroracap import decode_gemv


def main() -> None:
    try:
        best = json.loads(open(sys.argv[1]).read())["best_launch"]
    except (OSError, KeyError) as err:  # the sweep failed: time the defaults rather than nothing
        print(f"[with_launch] no best launch ({err!r}); the defaults", flush=True)
        best = {}
    decode_gemv.LAUNCH.update({kernel: decode_gemv.Launch(**launch) for kernel, launch in best.items()})
    print("[with_launch]", decode_gemv.LAUNCH, flush=True)
    sys.argv = ["vdc_bench.gpu_bench", *sys.argv[2:]]
    runpy.run_module("vdc_bench.gpu_bench", run_name="__main__")


if __name__ == "__main__":
    main()
