"""The gate's error type and exit codes (the table itself is loadgate.exit_codes)."""

from __future__ import annotations

from loadgate.exit_codes import EXIT_CODES

__all__ = ["EXIT_CODES", "ResultsUnusable"]


class ResultsUnusable(Exception):
    """The results cannot be trusted; str(e) is one clear sentence. The gate exits 2."""
