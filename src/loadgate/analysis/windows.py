"""Cut a run's history into measurement windows and measure each one.

What Locust's `_stats_history.csv` gives (one Aggregated row per second):
- `Total Request Count`, `Total Failure Count`, `Total Average Response Time` are cumulative,
  so differences between two rows give the *exact* requests, failures and mean latency of the
  interval between them. Throughput and error rate of a window come from these.
- `Requests/s` and `Failures/s` are Locust's smoothed "current" values (a ~10 s average that
  lags ~2 s): used only for the chart.
- The percentile columns are, in Locust 2.x, a ~10 s sliding window when the file has
  per-endpoint rows (`--csv-full-history`), and cumulative since the start otherwise.

Windows: consecutive rows with the same user count form a plateau (one step of a stepped or
breakpoint load). Plateaus shorter than `min_window_s` (a continuous ramp changes users every
second) are merged with the following ones until the window is long enough to measure. The
first second (3 s for plateaus of 8 s or more) after a change of users is skipped, so the
queue left by the previous step does not blur the new one. Windows measured over less than
2 s (a last step cut short when the run stops) are left out. In distributed runs the master's
counters move only when a worker report arrives (every ~3 s), so a window is measured between
the first and last rows where the counters moved.

p95 of a window:
- sliding-window history: the 10 s windows ending at the window's last row, at 10 s before
  it, and so on (tiling the window), averaged weighted by their request counts. Windows
  shorter than 10 s therefore also see the end of the previous step; for rising load that
  under-states their p95 slightly and delays a p95 break by at most one short step.
- cumulative history: the window's latency distribution is the difference of the two
  cumulative distributions (count x CDF at the end minus at the start); each CDF is
  interpolated linearly between the reported percentiles, and the window's 95th percentile
  is read from the difference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from loadgate.analysis.history import HistoryPoint

SLIDING_WINDOW_S = 10.0  # Locust's CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW
MIN_MEASURED_S = 2.0     # shorter windows (a step cut short at the end) are too noisy to use
QUANTILES = {"50%": 0.5, "66%": 0.66, "75%": 0.75, "80%": 0.8, "90%": 0.9, "95%": 0.95,
             "98%": 0.98, "99%": 0.99, "99.9%": 0.999, "99.99%": 0.9999, "100%": 1.0}


@dataclass(frozen=True)
class Window:
    start_s: float      # seconds since the first history row
    end_s: float
    users: int | None   # None: a rate window (open loop)
    requests: int
    failures: int
    rps: float          # answered requests per second (rate loads: the achieved rate)
    error_rate: float
    mean_ms: float
    p95_ms: float
    users_since_s: float | None = 0.0  # when this user count began (the last row before it)
    # from the latency record (record_windows.py), when there is one
    index: int | None = None            # the plan window (stage or step)
    name: str | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    latency_source: str | None = None   # "histogram" when the percentiles are exact
    # rate loads (open loop)
    planned_rps: float | None = None    # what the plan asked for
    offered_rps: float | None = None    # scheduled / the window's duration
    scheduled: int | None = None
    dropped: int | None = None
    dropped_rate: float | None = None   # dropped / scheduled
    unfinished: int | None = None       # still unanswered when the run ended
    service_p95_ms: float | None = None  # from sending, not from the scheduled start
    lag_p99_ms: float | None = None     # how late the generator started requests

    def to_json(self) -> dict:
        """summary.json's `windows` rows: camelCase, fields that do not apply left out."""
        return {_camel(k): v for k, v in self.__dict__.items() if v is not None}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _cdf(point: HistoryPoint, x: float) -> float:
    """Cumulative share of requests at or below x ms, interpolated between percentiles."""
    pairs = sorted((v, q) for k, q in QUANTILES.items()
                   if (v := point.percentiles.get(k)) is not None)
    prev_v, prev_q = 0.0, 0.0
    for v, q in pairs:
        if x < v:
            return prev_q + (q - prev_q) * (x - prev_v) / (v - prev_v) if v > prev_v else prev_q
        prev_v, prev_q = v, q
    return 1.0


def cumulative_window_quantile(a: HistoryPoint, b: HistoryPoint, q: float = 0.95) -> float:
    """q-quantile of the requests made between cumulative rows a and b (see module doc)."""
    n = b.total_requests - a.total_requests
    if n <= 0:
        return 0.0
    xs = sorted({0.0, *a.percentiles.values(), *b.percentiles.values()})
    grid = []
    for lo, hi in zip(xs, xs[1:], strict=False):
        grid += [lo + (hi - lo) * i / 20 for i in range(20)]
    grid.append(xs[-1])
    best = 0.0
    for x in grid:
        share = (b.total_requests * _cdf(b, x) - a.total_requests * _cdf(a, x)) / n
        best = max(best, share)  # keep it monotone despite interpolation error
        if best >= q:
            return round(x, 1)
    return xs[-1]


def _index_at_or_before(points: list[HistoryPoint], t: float, lo: int, hi: int) -> int | None:
    found = [m for m in range(lo, hi + 1) if points[m].t <= t]
    return found[-1] if found else None


def sliding_window_p95(points: list[HistoryPoint], i_start: int, i_end: int) -> float:
    """Request-weighted mean of Locust's 10 s p95 values tiling points[i_start..i_end]."""
    tiles = [i_end]
    while True:
        target = points[tiles[-1]].t - SLIDING_WINDOW_S
        if target - points[i_start].t < SLIDING_WINDOW_S / 2:
            break  # a further tile would lie mostly before the window
        j = _index_at_or_before(points, target, i_start, tiles[-1] - 1)
        if j is None:
            break
        tiles.append(j)
    weighted, total = 0.0, 0
    for k in tiles:
        lo = _index_at_or_before(points, points[k].t - SLIDING_WINDOW_S, 0, k) or 0
        n = max(points[k].total_requests - points[lo].total_requests, 1)
        weighted += points[k].p95_ms * n
        total += n
    return round(weighted / total, 1)


def measure(points: list[HistoryPoint], i_start: int, i_end: int, windowed: bool,
            t0: float) -> Window | None:
    """Measure points[i_start..i_end] (cumulative counters differenced between the two)."""
    a, b = points[i_start], points[i_end]
    dt = b.t - a.t
    n = b.total_requests - a.total_requests
    if dt <= 0:
        return None
    fails = b.total_failures - a.total_failures
    mean = ((b.total_avg_ms * b.total_requests - a.total_avg_ms * a.total_requests) / n
            if n > 0 else 0.0)
    if n <= 0:
        p95 = 0.0
    elif windowed:
        p95 = sliding_window_p95(points, i_start, i_end)
    else:
        p95 = cumulative_window_quantile(a, b)
    return Window(
        start_s=round(a.t - t0, 1), end_s=round(b.t - t0, 1),
        users=max(p.users for p in points[i_start:i_end + 1]),
        requests=n, failures=fails, rps=round(n / dt, 2),
        error_rate=round(fails / n, 4) if n else 0.0, mean_ms=round(mean, 1), p95_ms=p95)


def plateaus(points: list[HistoryPoint], min_window_s: float = 3.0) -> list[tuple[int, int]]:
    """(first, last) index ranges of constant users, short ones merged (see module doc)."""
    runs: list[list[int]] = []
    for i, p in enumerate(points):
        if runs and points[runs[-1][-1]].users == p.users:
            runs[-1].append(i)
        else:
            runs.append([i])
    merged: list[tuple[int, int]] = []
    pending: int | None = None
    for run in runs:
        first = run[0] if pending is None else pending
        if points[run[-1]].t - points[first].t + 1 < min_window_s and run is not runs[-1]:
            pending = first
            continue
        pending = None
        merged.append((first, run[-1]))
    return [(a, b) for a, b in merged if points[b].users > 0 or points[a].users > 0]


def _fresh(points: list[HistoryPoint], i: int) -> bool:
    """Did new counts arrive at row i? (A Locust master gets worker reports every ~3 s, so
    its counters stand still in between; measuring between arrivals avoids that staircase.)"""
    return i == 0 or points[i].total_requests != points[i - 1].total_requests


def windows(points: list[HistoryPoint], windowed: bool,
            min_window_s: float = 3.0) -> list[Window]:
    """Measured windows in time order (idle plateaus with zero users dropped)."""
    if not points:
        return []
    t0 = points[0].t
    out = []
    for first, last in plateaus(points, min_window_s):
        if points[last].users == 0:
            continue
        # The change of users happened after row first-1. Short plateaus are measured from
        # there; longer ones skip 1 s (or 3 s, a worker report interval) of transition.
        rows = last - first + 1
        settle = 0 if rows < 4 else 1 if rows < 8 else 3
        lo = max(first - 1 + settle, 0)
        arrivals = [i for i in range(lo, last + 1) if _fresh(points, i)]
        a, b = (arrivals[0], arrivals[-1]) if len(arrivals) >= 2 else (lo, last)
        w = measure(points, a, b, windowed, t0)
        if w is not None and w.requests > 0 and w.end_s - w.start_s >= MIN_MEASURED_S:
            since = round(points[max(first - 1, 0)].t - t0, 1)
            out.append(dataclasses.replace(w, users_since_s=since))
    return out
