"""Bounded polling for tests that wait on another process."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(fn: Callable[[], object], timeout: float = 30, what: str = "condition",
               interval: float = 0.1):
    """Poll `fn` until it returns something truthy (bounded); return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:  # e.g. the emulator answers 404 until the object exists
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
