"""Durations as written in LoadTest documents: "30s", "5m", "1h", "1m30s", or plain seconds."""

from __future__ import annotations

import math
import re

# The same grammar as the CRD's pattern: optional h, m, s parts in that order, or a bare number.
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


class DurationError(ValueError):
    """A duration that is not a number of seconds nor like 30s, 5m, 1h, 1m30s."""


def parse_duration(value, path: str = "") -> float:
    """Seconds (float) from "30s", "5m", "1h", "1m30s", "90", 90 or 1.5. Negative is an error."""
    where = f"{path}: " if path else ""
    if isinstance(value, bool):
        raise DurationError(f"{where}invalid duration {value!r} (use 30s, 5m, 1h)")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise DurationError(f"{where}invalid duration {value!r} (must be >= 0 seconds)")
        return float(value)
    if not isinstance(value, str):
        raise DurationError(f"{where}invalid duration {value!r} (use 30s, 5m, 1h)")
    text = value  # no trimming: the CRD's pattern rejects spaces too
    if _NUMBER.match(text):
        return float(text)
    m = _DURATION.match(text)
    if not text or not m:
        raise DurationError(f"{where}invalid duration {value!r} (use 30s, 5m, 1h)")
    hours, minutes, seconds = m.groups()
    return int(hours or 0) * 3600.0 + int(minutes or 0) * 60.0 + float(seconds or 0)


def format_duration(seconds: float) -> str:
    """90 -> "1m30s", 3600 -> "1h", 0 -> "0s"; rounds up to whole seconds (Locust's --run-time)."""
    total = max(0, math.ceil(float(seconds) - 1e-9))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    if secs or not out:
        out += f"{secs}s"
    return out
