"""The five VDC caption dimensions, in the order the published tables list them."""

from vdc_bench.dataset.errors import DataFormatError
from vdc_bench.records import DIMENSIONS


def check_dimension(name: str) -> str:
    if name not in DIMENSIONS:
        raise DataFormatError(f"unknown VDC dimension {name!r}; expected one of {', '.join(DIMENSIONS)}")
    return name


def caption_key(dimension: str) -> str:
    """Field holding this dimension's GT caption in ``VDC_1k.jsonl`` (both schemas)."""
    return f"{check_dimension(dimension)}_caption"
