"""A compact, mergeable histogram of positive values with at most 1% relative error.

Bucket k holds the values in [GAMMA**k, GAMMA**(k+1)); a value is read back as its bucket's
geometric middle GAMMA**(k+0.5), within GAMMA**0.5 - 1 = 0.995% of the truth whatever its
magnitude (a 0.3 ms gap and a 30 s answer alike). Counts add, so histograms recorded in every
Locust process merge exactly on the master, and the JSON form is a few hundred integers for six
decades of values, not a list of every sample. Zero and negative values are counted apart and
read back as 0. Exact min, max, count and sum are kept beside the buckets.

Standard library only: the gate reads these back.
"""

from __future__ import annotations

import math

GAMMA = 1.02
_LOG_GAMMA = math.log(GAMMA)


class LogHistogram:
    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float, n: int = 1) -> None:
        if value > 0:
            k = math.floor(math.log(value) / _LOG_GAMMA)
            self.buckets[k] = self.buckets.get(k, 0) + n
        else:
            self.zeros += n
        self.count += n
        self.total += value * n
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def merge(self, other: LogHistogram) -> LogHistogram:
        for k, n in other.buckets.items():
            self.buckets[k] = self.buckets.get(k, 0) + n
        self.zeros += other.zeros
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        return self

    def quantile(self, q: float) -> float | None:
        """The value at rank ceil(q * count) (nearest rank), within 1%; None when empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        seen = self.zeros
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen >= rank:
                return min(max(GAMMA ** (k + 0.5), self.min), self.max)
        return self.max

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def to_json(self) -> dict:
        return {"gamma": GAMMA, "zeros": self.zeros, "count": self.count,
                "sum": self.total, "min": self.min if self.count else None,
                "max": self.max if self.count else None,
                "buckets": {str(k): n for k, n in sorted(self.buckets.items())}}

    @classmethod
    def from_json(cls, doc) -> LogHistogram:
        """Read back to_json's form; ValueError for anything else (a truncated record)."""
        if not isinstance(doc, dict) or doc.get("gamma") != GAMMA:
            raise ValueError(f"not a LogHistogram with gamma {GAMMA}: {str(doc)[:80]}")
        h = cls()
        try:
            h.buckets = {int(k): int(n) for k, n in doc["buckets"].items()}
            h.zeros = int(doc["zeros"])
            h.count = int(doc["count"])
            h.total = float(doc["sum"])
            if h.count:
                h.min, h.max = float(doc["min"]), float(doc["max"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"malformed LogHistogram: {e}") from None
        if h.count != h.zeros + sum(h.buckets.values()):
            raise ValueError("malformed LogHistogram: count differs from its buckets")
        return h
