"""Analysis of a run's history: windows, breaking point, drift, timeline chart."""

from loadgate.analysis.breaking_point import (
    breaking_point_sentence,
    find_breaking_point,
    find_rate_breaking_point,
)
from loadgate.analysis.drift import latency_drift
from loadgate.analysis.history import HistoryPoint
from loadgate.analysis.record_windows import record_windows, with_record_percentiles
from loadgate.analysis.timeline import write_timeline
from loadgate.analysis.windows import Window, windows

__all__ = ["HistoryPoint", "Window", "breaking_point_sentence", "find_breaking_point",
           "find_rate_breaking_point", "latency_drift", "record_windows", "windows",
           "with_record_percentiles", "write_timeline"]
