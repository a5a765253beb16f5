"""Exceptions for problems a user can fix. The CLI prints them as one clear line, no traceback."""


class VdcBenchError(Exception):
    """Base class: bad input, missing file, unreachable server, invalid argument."""
