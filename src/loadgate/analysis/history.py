"""One aggregated row of Locust's `_stats_history.csv` (written once a second)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HistoryPoint:
    t: float                     # unix seconds (Locust writes whole seconds)
    users: int                   # users running at that moment
    current_rps: float           # Locust's smoothed rps (~10 s average, lags ~2 s)
    current_fail_per_s: float
    p50_ms: float                # ~10 s window or cumulative: LocustResults.history_windowed
    p95_ms: float
    p99_ms: float
    max_ms: float
    total_requests: int          # cumulative: differences give exact per-window counts
    total_failures: int
    total_avg_ms: float          # cumulative mean: mean * count differences give window means
    percentiles: dict[str, float] = field(default_factory=dict)  # "50%" ... "100%"
