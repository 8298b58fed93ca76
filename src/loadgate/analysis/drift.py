"""Latency drift of a long run: p95 of the first minute against the last minute."""

from __future__ import annotations

from loadgate.analysis.history import HistoryPoint
from loadgate.analysis.windows import measure

MINUTE_S = 60.0
# Locust writes a history row once a second with whole-second timestamps, the first about a
# second after the start: a `--run-time 2m` run spans 119-120 s of rows
ROW_SLACK_S = 2.0


def latency_drift(points: list[HistoryPoint], windowed: bool) -> dict | None:
    """None for runs shorter than two minutes (the two minutes would overlap). The length is
    the whole run's (first to last history row), so a `--run-time 2m` run has a drift."""
    busy = [i for i, p in enumerate(points) if p.users > 0]
    if not busy or points[-1].t - points[0].t < 2 * MINUTE_S - ROW_SLACK_S:
        return None
    first, last = busy[0], busy[-1]
    t0 = points[0].t
    i_first_end = max(i for i in range(first, last + 1)
                      if points[i].t <= points[first].t + MINUTE_S)
    i_last_start = min(i for i in range(first, last + 1)
                       if points[i].t >= points[last].t - MINUTE_S)
    a = measure(points, first, i_first_end, windowed, t0)
    b = measure(points, i_last_start, last, windowed, t0)
    if a is None or b is None or a.requests == 0 or b.requests == 0:
        return None
    change = (b.p95_ms - a.p95_ms) / a.p95_ms * 100 if a.p95_ms else 0.0
    return {"firstMinuteP95Ms": a.p95_ms, "lastMinuteP95Ms": b.p95_ms,
            "changePct": round(change, 1), "firstMinuteRps": a.rps, "lastMinuteRps": b.rps}
