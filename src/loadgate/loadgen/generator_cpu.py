"""Load-generator CPU as Locust's own processes measure it, saved next to the CSVs.

Each Locust process (master, workers, or a single local runner) samples its own CPU every
second while users are running, smoothed over 3 s so a spawn burst is not saturation; workers
send their samples to the master as a custom message. The busiest process decides whether the
numbers describe the target or the generator (one Locust process is one Python thread, so
~100% means it was the bottleneck). The master (or local runner) writes
`<csv prefix>_generator.json` when it quits. On Kubernetes that file is the collector's only
CPU figure; the local runner measures the same with psutil and uses the file as a fallback.
(Locust's own usage_monitor samples only every 10 s: too coarse for short steps.)
"""

from __future__ import annotations

import json
from pathlib import Path

SUFFIX = "_generator.json"


def record_path(csv_prefix: str | Path) -> Path:
    return Path(f"{csv_prefix}{SUFFIX}")


def read_record(csv_prefix: str | Path) -> dict:
    """The saved figures ({} when the file is absent or unreadable: a user locustfile)."""
    try:
        doc = json.loads(record_path(csv_prefix).read_text())
    except (OSError, ValueError):
        return {}
    cpu = doc.get("maxCpuPercent") if isinstance(doc, dict) else None
    if isinstance(cpu, bool) or not isinstance(cpu, int | float):
        return {}
    return {"maxCpuPercent": float(cpu), "source": "locust"}


MESSAGE = "loadgate-generator-cpu"
SAMPLE_EVERY_S = 1.0
SMOOTH_SAMPLES = 3


def watch(environment, **_) -> None:
    """events.init listener: every process samples; the master or local runner saves the peak."""
    from collections import deque

    import gevent
    import psutil
    from locust.runners import WorkerRunner

    runner = environment.runner
    if runner is None:
        return
    worker = isinstance(runner, WorkerRunner)
    peak: list[float] = []

    def sampler() -> None:
        proc, recent = psutil.Process(), deque(maxlen=SMOOTH_SAMPLES)
        proc.cpu_percent()  # the first call only primes the counter
        while True:
            gevent.sleep(SAMPLE_EVERY_S)
            cpu = proc.cpu_percent()
            if runner.user_count <= 0:  # start-up and report writing are not load
                recent.clear()
                continue
            recent.append(cpu)
            if len(recent) < SMOOTH_SAMPLES:
                continue
            smoothed = sum(recent) / len(recent)
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
