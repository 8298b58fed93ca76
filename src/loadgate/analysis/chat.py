"""Chat figures of a run from its chat record (`loadgate.loadgen.chat_metrics`): the summary's
TTFT/ITL/tokens keys, the same per measurement window (for the breaking point), and series
over time for the timeline.

Requests are placed in time by the second they completed, like Locust's own counters, so a
window [a, b) of the history holds the chat requests that completed in it.
"""

from __future__ import annotations

import dataclasses

from loadgate.analysis.history import HistoryPoint
from loadgate.analysis.windows import Window
from loadgate.loadgen.chat_metrics import ChatRecord, figures

SERIES_WINDOW_S = 5  # the timeline's TTFT/ITL/tokens are over the 5 s before each point


def chat_summary(record: ChatRecord) -> dict:
    """The summary.json keys of a chat run: ttftP50Ms/P95Ms/P99Ms, itlP50Ms/P95Ms,
    outputTokensPerS (all output tokens over the time from the first request sent to the
    last completed), outputTokens, chatRequests, requestTokensPerSP50, usageReportedShare."""
    seconds = None
    if record.first_start is not None and record.last_end is not None:
        seconds = record.last_end - record.first_start
    return figures(record.window(), seconds)


def chat_windows(ws: list[Window], t0: float, record: ChatRecord) -> list[Window]:
    """The windows with their chat figures (t0: the history's first timestamp)."""
    out = []
    for w in ws:
        duration = w.end_s - w.start_s
        f = figures(record.window(t0 + w.start_s, t0 + w.end_s), duration)
        out.append(dataclasses.replace(w, ttft_p95_ms=f["ttftP95Ms"], itl_p95_ms=f["itlP95Ms"],
                                       output_tokens_per_s=f["outputTokensPerS"]))
    return out


def chat_series(points: list[HistoryPoint], record: ChatRecord) -> dict[str, list]:
    """For each history point: TTFT p95, ITL p95 (ms) and output tokens/s of the requests
    completed in the SERIES_WINDOW_S seconds before it (None where none completed)."""
    series: dict[str, list] = {"ttftP95Ms": [], "itlP95Ms": [], "outputTokensPerS": []}
    for p in points:
        f = figures(record.window(p.t - SERIES_WINDOW_S, p.t), SERIES_WINDOW_S)
        for key, values in series.items():
            values.append(f[key] if f["chatRequests"] else None)
    return series
