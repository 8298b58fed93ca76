"""The load generator's own CPU, per Locust process, sampled about once a second.

A single Locust process is one Python thread: it saturates at 100% of one core however many
cores the machine has, so the figure that matters is the busiest process, not the sum.
Readings are smoothed over a few samples so one import, GC pause or report write does not
count as saturation; a generator that is really saturated stays near 100% throughout.
"""

from __future__ import annotations

from collections import deque

import psutil

SMOOTH_SAMPLES = 3


class CpuSampler:
    def __init__(self, pids: list[int]):
        self._procs: dict[int, psutil.Process] = {}
        self._recent: dict[int, deque[float]] = {}
        for pid in pids:
            try:
                p = psutil.Process(pid)
                p.cpu_percent(None)  # the first reading only starts the clock
            except psutil.Error:
                continue
            self._procs[pid] = p
            self._recent[pid] = deque(maxlen=SMOOTH_SAMPLES)
        self.max_percent = 0.0
        self.samples = 0  # full smoothing windows seen
        self.readings = 0  # single readings taken under load
        self.partial_max = 0.0  # for runs too short to fill a window

    def sample(self, count: bool = True) -> None:
        """Read every process; with count=False only keep the clocks moving (not under load)."""
        for pid, p in list(self._procs.items()):
            try:
                pct = p.cpu_percent(None)
            except psutil.Error:  # the process ended
                del self._procs[pid]
                continue
            if not count:
                self._recent[pid].clear()
                continue
            window = self._recent[pid]
            window.append(pct)
            self.readings += 1
            mean = sum(window) / len(window)
            self.partial_max = max(self.partial_max, mean)
            if len(window) == window.maxlen:
                self.max_percent = max(self.max_percent, mean)
                self.samples += 1

    def result(self) -> float | None:
        """The peak smoothed figure; a run too short for a full window uses what it has;
        None when no reading was ever taken under load (nothing to judge the generator by)."""
        if self.readings == 0:
            return None
        if self.samples == 0:
            return round(self.partial_max, 1)
        return round(self.max_percent, 1)
