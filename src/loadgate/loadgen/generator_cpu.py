"""Load-generator CPU as Locust's own processes measure it, saved next to the CSVs.

Each Locust process (master, workers, or a single local runner) samples its own CPU every
second while users are running, smoothed over 3 s so a spawn burst is not saturation; workers
send their samples to the master as a custom message. The busiest process decides whether the
numbers describe the target or the generator (one Locust process is one Python thread, so
~100% means it was the bottleneck). The master writes `<csv prefix>_generator.json` when it
quits; the gate reads it, locally and on Kubernetes alike. The listener is its own Locust
module (`cpu_listener.py`, loaded with -f like the shape), so custom locustfiles get it too.
(Locust's own usage_monitor samples only every 10 s: too coarse for short steps.)

In a container with a CPU limit under one core (a cgroup quota), a saturated process reads only
that share (500m: ~50%) and would pass as healthy; readings are scaled to the share the process
may use, so 100% means saturated whatever the limit (the operator also gives its worker pods
requests equal to limits).

No locust import at module level: the gate imports this to read the record.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

SUFFIX = "_generator.json"
MESSAGE = "loadgate-generator-cpu"
SAMPLE_EVERY_S = 1.0
SMOOTH_SAMPLES = 3


def record_path(csv_prefix: str | Path) -> Path:
    return Path(f"{csv_prefix}{SUFFIX}")


def read_record(csv_prefix: str | Path) -> dict:
    """The saved figures ({} when the file is absent or unreadable: too short a run)."""
    try:
        doc = json.loads(record_path(csv_prefix).read_text())
    except (OSError, ValueError):
        return {}
    cpu = doc.get("maxCpuPercent") if isinstance(doc, dict) else None
    if isinstance(cpu, bool) or not isinstance(cpu, int | float):
        return {}
    return {"maxCpuPercent": float(cpu), "source": "locust"}


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_limit_cores(root: Path = CGROUP_ROOT) -> float | None:
    """This container's CPU limit in cores from its cgroup quota (v2 cpu.max, v1
    cpu.cfs_quota_us / cpu.cfs_period_us), or None without one."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for v1 in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota = int((v1 / "cpu.cfs_quota_us").read_text())
            period = int((v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota <= 0 or period <= 0 else quota / period
    return None


class CpuPeak:
    """One process's CPU, read once per call: a smoothed figure once a full window of readings
    under load exists, None otherwise (or once the process is gone). With a CPU limit under
    one core (`limit_cores`), figures are percent of that share."""

    def __init__(self, proc, smooth: int = SMOOTH_SAMPLES, limit_cores: float | None = None):
        self.proc = proc  # a psutil.Process
        self.recent: deque[float] = deque(maxlen=smooth)
        self.gone = False
        self.share = min(1.0, limit_cores) if limit_cores and limit_cores > 0 else 1.0
        self._read()  # the first reading only starts the clock

    def _read(self) -> float | None:
        import psutil

        try:
            return self.proc.cpu_percent(None)
        except psutil.Error:
            self.gone = True
            return None

    def sample(self, loaded: bool = True) -> float | None:
        """Read now; `loaded` False (no users running: start-up, report writing) restarts the
        window instead of counting."""
        cpu = None if self.gone else self._read()
        if cpu is None or not loaded:
            self.recent.clear()
            return None
        self.recent.append(cpu / self.share)
        if len(self.recent) < self.recent.maxlen:
            return None
        return sum(self.recent) / len(self.recent)


def watch(environment, **_) -> None:
    """events.init listener: every process samples; the master (or local runner) saves the peak."""
    import gevent
    import psutil
    from locust.runners import WorkerRunner

    runner = environment.runner
    if runner is None:
        return
    worker = isinstance(runner, WorkerRunner)
    peak: list[float] = []

    def sampler() -> None:
        cpu = CpuPeak(psutil.Process(), limit_cores=cpu_limit_cores())
        while True:
            gevent.sleep(SAMPLE_EVERY_S)
            smoothed = cpu.sample(runner.user_count > 0)
            if smoothed is None:
                continue
            if worker:
                runner.send_message(MESSAGE, smoothed)
            else:
                peak.append(smoothed)

    gevent.spawn(sampler)
    if worker:
        return

    def from_worker(environment, msg, **_) -> None:
        if isinstance(msg.data, int | float):
            peak.append(float(msg.data))

    def save(environment, **_) -> None:
        prefix = getattr(environment.parsed_options, "csv_prefix", None)
        if prefix and peak:
            record_path(prefix).write_text(json.dumps(
                {"maxCpuPercent": round(max(peak), 1), "samples": len(peak)}))

    if hasattr(runner, "register_message"):
        runner.register_message(MESSAGE, from_worker)
    environment.events.quitting.add_listener(save)
