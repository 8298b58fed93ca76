"""Think time of the built-in users: the pause between one answer and the next request.

Not a spec field: realistic users pause (default 0.5-1.5 s, about one request per second per
user); benchmarks set "0,0" (closed loop: the next request as soon as the answer is in).
"""

from __future__ import annotations

import os

WAIT_TIME_ENV = "LOADGATE_WAIT_TIME_S"  # "min,max" seconds
DEFAULT_WAIT_TIME_S = (0.5, 1.5)


def wait_time_s(environ=None) -> tuple[float, float]:
    """(min, max) seconds from LOADGATE_WAIT_TIME_S, else the default."""
    text = (os.environ if environ is None else environ).get(WAIT_TIME_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT_TIME_S
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"{WAIT_TIME_ENV}={text!r}: expected 'min,max' seconds") from None
    if not 0 <= lo <= hi:
        raise ValueError(f"{WAIT_TIME_ENV}={text!r}: expected 0 <= min <= max")
    return lo, hi
