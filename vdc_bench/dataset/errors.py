"""Data problems a user can fix; every message names the file (and line) or the setting involved."""

from vdc_bench.errors import VdcBenchError


class DataFormatError(VdcBenchError):
    """A data file is malformed: bad JSON, a missing field, a path that leaves the data root."""


class DataNotFoundError(VdcBenchError):
    """No usable VDC data where the settings point (or nowhere to fetch it from)."""


class MissingVideosError(VdcBenchError):
    """Pre-flight check: videos referenced by the data are absent (on_missing=error)."""
