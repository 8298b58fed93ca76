"""The gate's error type and exit codes (the contract of DEVELOPERS.md)."""

from __future__ import annotations

EXIT_CODES = {"Pass": 0, "Fail": 1, "Error": 2, "Invalid": 3}


class ResultsUnusable(Exception):
    """The results cannot be trusted; str(e) is one clear sentence. The gate exits 2."""
