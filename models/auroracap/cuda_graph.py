"""Capturing a function as a CUDA graph, the one way every graphed path here does it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def capture(fn: Callable[[], Any], warmup: int, device: torch.device | None = None, calls: int = 1,
            pool: Any = None) -> tuple[torch.cuda.CUDAGraph, Any]:
    """(graph of ``calls`` calls of ``fn``, what the last captured call returned).

    ``warmup`` calls run first on a side stream, so compilation, kernel choice and workspaces happen outside
    the capture; ``pool`` shares a memory pool between graphs that never run at once."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    out = None
    with torch.cuda.graph(graph, pool=pool):
        for _ in range(calls):
            out = fn()
    return graph, out
