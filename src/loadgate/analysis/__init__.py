"""Analysis of a run's history: windows, breaking point, drift, timeline chart."""

from loadgate.analysis.breaking_point import breaking_point_sentence, find_breaking_point
from loadgate.analysis.drift import latency_drift
from loadgate.analysis.history import HistoryPoint
from loadgate.analysis.timeline import write_timeline
from loadgate.analysis.windows import Window, windows

__all__ = ["HistoryPoint", "Window", "breaking_point_sentence", "find_breaking_point",
           "latency_drift", "windows", "write_timeline"]
