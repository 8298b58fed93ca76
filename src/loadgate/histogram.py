"""A mergeable latency histogram with log-spaced buckets (HDR-like), pure Python.

Values are whole microseconds. Below 256 µs every value has its own bucket; above, each power
of two is split into 128 buckets, so a bucket is at most 1/128 of its lower edge wide and the
value reported for it (its midpoint) is within 0.4% of any value recorded in it. Buckets are
a sparse dict {index: count}: merging two histograms adds counts, so the histograms of many
Locust processes (or of many seconds) merge into exactly the histogram of all their requests.
Count, sum, minimum and maximum are kept exactly (mean, min and max are exact, and a
reported percentile never lies outside [min, max]).

Recording costs a few integer operations and one dict update, no allocation of its own
(`record` is on every request's path in every Locust process).
"""

from __future__ import annotations

import math

SUB_BITS = 7                      # 2**7 = 128 buckets per power of two
_SUB = 1 << SUB_BITS              # 128
_EXACT = _SUB << 1                # 256: values below are their own bucket
RELATIVE_ERROR = 1 / (2 * _SUB)   # 0.39%: midpoint vs any value of the bucket


def bucket_index(us: int) -> int:
    """The bucket of a value in µs (>= 0)."""
    if us < _EXACT:
        return us
    shift = us.bit_length() - SUB_BITS - 1
    return (shift << SUB_BITS) + (us >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high] µs of the values a bucket holds."""
    if index < _EXACT:
        return index, index
    shift = (index >> SUB_BITS) - 1
    low = (index - (shift << SUB_BITS)) << shift
    return low, low + (1 << shift) - 1


def bucket_value(index: int) -> float:
    """The value reported for a bucket: its midpoint, µs."""
    low, high = bucket_bounds(index)
    return (low + high) / 2


class Histogram:
    """Latencies in µs: `record(us)`, `merge(other)`, `percentile(q)` in ms."""

    __slots__ = ("counts", "count", "total", "max", "min")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0      # sum of the values, µs (the mean is exact)
        self.max = 0        # largest value, µs (exact)
        self.min = -1       # smallest value, µs (exact); -1 while empty

    def record(self, us: int) -> None:
        if us < _EXACT:
            i = us if us > 0 else 0
        else:
            shift = us.bit_length() - SUB_BITS - 1
            i = (shift << SUB_BITS) + (us >> shift)
        counts = self.counts
        counts[i] = counts.get(i, 0) + 1
        self.count += 1
        self.total += us
        if us > self.max:
            self.max = us
        if us < self.min or self.min < 0:
            self.min = us

    def record_ms(self, ms: float, n: int = 1) -> None:
        """`n` values of `ms` milliseconds (n > 1: e.g. requests still in flight, all as old)."""
        us = max(0, int(ms * 1000.0))
        if n == 1:
            self.record(us)
            return
        i = bucket_index(us)
        self.counts[i] = self.counts.get(i, 0) + n
        self.count += n
        self.total += us * n
        self.max = max(self.max, us)
        self.min = us if self.min < 0 else min(self.min, us)

    def merge(self, other: Histogram) -> Histogram:
        counts = self.counts
        for i, n in other.counts.items():
            counts[i] = counts.get(i, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        if other.min >= 0:
            self.min = other.min if self.min < 0 else min(self.min, other.min)
        return self

    def __bool__(self) -> bool:
        return self.count > 0

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1) in ms by nearest rank, None when empty; q = 1 is the
        exact maximum."""
        if self.count == 0:
            return None
        if q >= 1:
            return round(self.max / 1000.0, 3)
        rank = max(1, math.ceil(q * self.count - 1e-9))
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return round(min(max(bucket_value(i), self.min), self.max) / 1000.0, 3)
        return round(self.max / 1000.0, 3)

    def mean_ms(self) -> float | None:
        return round(self.total / self.count / 1000.0, 3) if self.count else None

    def count_above_ms(self, ms: float) -> int:
        """How many values lie above `ms` (bucket resolution: whole buckets above it)."""
        limit = int(ms * 1000.0)
        return sum(n for i, n in self.counts.items() if bucket_bounds(i)[0] > limit)

    # JSON: {"n": count, "sum": µs, "min": µs, "max": µs, "b": [index, count, index, ...]}
    def to_json(self) -> dict:
        flat: list[int] = []
        for i in sorted(self.counts):
            flat += (i, self.counts[i])
        return {"n": self.count, "sum": self.total, "min": max(self.min, 0), "max": self.max,
                "b": flat}

    @classmethod
    def from_json(cls, doc) -> Histogram:
        """ValueError for anything that is not a histogram written by to_json."""
        if not isinstance(doc, dict):
            raise ValueError("a histogram must be an object")
        h = cls()
        flat = doc.get("b", [])
        if not isinstance(flat, list) or len(flat) % 2:
            raise ValueError("histogram buckets must be a flat [index, count, ...] list")
        for i, n in zip(flat[::2], flat[1::2], strict=True):
            if not (_is_int(i) and _is_int(n)) or i < 0 or n < 0:
                raise ValueError("histogram buckets must be non-negative integers")
            if n:
                h.counts[i] = h.counts.get(i, 0) + n
        for key in ("n", "sum", "min", "max"):
            if not _is_int(doc.get(key, 0)) or doc.get(key, 0) < 0:
                raise ValueError(f"histogram {key!r} must be a non-negative integer")
        h.count = sum(h.counts.values())
        if doc.get("n", h.count) != h.count:
            raise ValueError("histogram count does not match its buckets")
        h.total, h.max = int(doc.get("sum", 0)), int(doc.get("max", 0))
        lowest = bucket_bounds(min(h.counts))[0] if h.counts else -1
        h.min = int(doc.get("min", lowest)) if h.count else -1
        return h


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
