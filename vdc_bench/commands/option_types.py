"""argparse ``type=`` functions for numeric options: a bad value stops at parse time with one line
(``argument --concurrency: must be an integer >= 1, got '0'``), before any work starts."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _bounded(kind: type, low: float, strict: bool) -> Callable[[str], int | float]:
    noun = "an integer" if kind is int else "a number"
    bound = f"{'>' if strict else '>='} {low:g}"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or math.isnan(value) or (value <= low if strict else value < low):
            raise argparse.ArgumentTypeError(f"must be {noun} {bound}, got {text!r}")
        return value

    parse.__name__ = f"{noun} {bound}"  # argparse names the type in some messages
    return parse


positive_int = _bounded(int, 1, strict=False)
non_negative_int = _bounded(int, 0, strict=False)
positive_float = _bounded(float, 0, strict=True)
non_negative_float = _bounded(float, 0, strict=False)
