"""Measured windows from a run's latency record (loadgen/latency_record.py): exact percentiles.

One Window per plan window (stage, breakpoint step, or the whole of a constant load), measured
from the histograms of the requests recorded in it: for rate loads the requests *scheduled*
in it (answered ones from their scheduled start, unanswered ones at their age when the run
ended), with what was offered and dropped, and as `rps` the achieved rate: answers received
while the window ran (an overloaded target is still answering earlier windows' queue); for
closed-loop loads the requests sent in it, `rps` their count per second. Times are seconds since `t0` (the first history row, so they line up with the history
windows and the timeline).

`with_record_percentiles` gives the history-based windows of a closed-loop run (windows.py)
the exact p95 of the record window they lie in, instead of Locust's rounded, 10 s ones.
Chat runs: every window also gets its TTFT and inter-token p95 and output tokens per second.
"""

from __future__ import annotations

import dataclasses

from loadgate.analysis.windows import Window


def _ms(value: float | None) -> float:
    return round(value, 1) if value is not None else 0.0


def _chat(wd, duration: float | None) -> dict:
    """A window's chat fields (none when it holds no chat request)."""
    if not wd.chat:
        return {}
    f = wd.chat.figures(duration)
    return {"ttft_p95_ms": f["ttftP95Ms"], "itl_p95_ms": f["itlP95Ms"],
            "output_tokens_per_s": f["outputTokensPerS"]}


def record_windows(record, t0: float | None = None) -> list[Window]:
    """A Window per window of the record that ran (has a start and an end), in order."""
    starts = [m["startS"] for m in record.meta.values() if "startS" in m]
    if t0 is None:
        t0 = min(starts) if starts else 0.0
    out = []
    for index in record.indexes():
        duration = record.duration_s(index)
        if duration is None:
            continue
        meta = record.window_meta(index)
        wd = record.window(index)
        latency = wd.latency()
        requests, failures = wd.requests, wd.failures
        rate = record.mode == "rate"
        scheduled = wd.total("scheduled")
        dropped = wd.total("dropped")
        out.append(Window(
            start_s=round(meta["startS"] - t0, 1), end_s=round(meta["startS"] + duration - t0, 1),
            users=None if rate else meta.get("users"), requests=requests, failures=failures,
            rps=round((wd.answered if rate else requests) / duration, 2),
            error_rate=round(failures / requests, 4) if requests else 0.0,
            mean_ms=_ms(latency.mean_ms()), p95_ms=_ms(latency.percentile(0.95)),
            users_since_s=None, index=index, name=meta.get("name"),
            p50_ms=_ms(latency.percentile(0.5)), p99_ms=_ms(latency.percentile(0.99)),
            latency_source="histogram",
            planned_rps=meta.get("plannedRps") if rate else None,
            offered_rps=round(scheduled / duration, 2) if rate else None,
            scheduled=scheduled if rate else None, dropped=dropped if rate else None,
            dropped_rate=round(dropped / scheduled, 4) if rate and scheduled else (
                0.0 if rate else None),
            unfinished=wd.total("unfinished") if rate else None,
            service_p95_ms=_ms(wd.service().percentile(0.95)) if rate else None,
            lag_p99_ms=_ms(wd.lag.percentile(0.99)) if rate else None, **_chat(wd, duration)))
    return out


def with_record_percentiles(ws: list[Window], record, t0: float,
                            measured: dict[int, Window]) -> list[Window]:
    """History windows with the exact percentiles (and chat figures) of the record window
    holding their middle, taken from `measured` (record_windows by index), not recomputed."""
    spans = []
    for index in record.indexes():
        meta, duration = record.meta.get(index, {}), record.duration_s(index)
        if duration is not None:
            spans.append((meta["startS"] - t0, meta["startS"] - t0 + duration, index))
    out = []
    for w in ws:
        middle = (w.start_s + w.end_s) / 2
        index = next((i for lo, hi, i in spans if lo <= middle < hi), None)
        m = measured.get(index) if index is not None else None
        if m is not None and m.requests:
            w = dataclasses.replace(w, p95_ms=m.p95_ms, p50_ms=m.p50_ms, p99_ms=m.p99_ms,
                                    index=index, name=m.name, latency_source="histogram",
                                    ttft_p95_ms=m.ttft_p95_ms, itl_p95_ms=m.itl_p95_ms,
                                    output_tokens_per_s=m.output_tokens_per_s)
        out.append(w)
    return out
