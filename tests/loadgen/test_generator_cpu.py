"""The generator's CPU as each Locust process measures itself (CpuPeak), on real processes:
a busy loop reads high, a sleeper reads near zero, readings outside the load do not count."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from loadgate.loadgen.generator_cpu import CpuPeak, cpu_limit_cores, read_record, record_path

BUSY = "import time\nend = time.monotonic() + 8\nwhile time.monotonic() < end: pass\n"
IDLE = "import time\ntime.sleep(8)\n"


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_busiest_process_counts_and_idle_ones_do_not():
    busy, idle = _spawn(BUSY), _spawn(IDLE)
    try:
        loaded = CpuPeak(psutil.Process(busy.pid))
        idle_only = CpuPeak(psutil.Process(idle.pid))
        not_loaded = CpuPeak(psutil.Process(busy.pid))
        readings: dict[str, list] = {"loaded": [], "idle": [], "not_loaded": []}
        for _ in range(4):
            time.sleep(1.0)
            readings["loaded"].append(loaded.sample())
            readings["idle"].append(idle_only.sample())
            # before users run: the clock moves, nothing counts
            readings["not_loaded"].append(not_loaded.sample(loaded=False))
    finally:
        for p in (busy, idle):
            p.terminate()
            p.wait()
    # a full 3-reading window first; one-thread loop is one core at most (less when shared)
    assert readings["loaded"][:2] == [None, None]
    assert all(30 < x <= 105 for x in readings["loaded"][2:]), readings
    assert all(x < 10 for x in readings["idle"][2:]), readings
    assert readings["not_loaded"] == [None] * 4


def test_a_process_that_ends_is_dropped(tmp_path):
    p = _spawn("pass")
    peak = CpuPeak(psutil.Process(p.pid))
    p.wait()
    assert peak.sample() is None and peak.gone
    # and a run too short for a full window leaves no record: the gate has no figure then
    assert read_record(tmp_path / "locust") == {}
    record_path(tmp_path / "locust").write_text('{"maxCpuPercent": 42.5, "samples": 3}')
    assert read_record(tmp_path / "locust") == {"maxCpuPercent": 42.5, "source": "locust"}


class _Proc:
    """A process reading a fixed CPU percent (what psutil shows under a cgroup quota)."""

    def __init__(self, percent: float) -> None:
        self.percent = percent

    def cpu_percent(self, interval=None) -> float:
        return self.percent


def test_a_throttled_generator_is_not_a_healthy_one(tmp_path):
    """A worker limited to 500m that uses all of it reads ~48%: as a share of its limit it is
    saturated (over the ~90% Invalid guard)."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("50000 100000\n")
    v1 = tmp_path / "v1" / "cpu,cpuacct"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("150000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    unlimited = tmp_path / "none"
    unlimited.mkdir()
    (unlimited / "cpu.max").write_text("max 100000\n")
    assert cpu_limit_cores(v2) == 0.5
    assert cpu_limit_cores(tmp_path / "v1") == 1.5
    assert cpu_limit_cores(unlimited) is None and cpu_limit_cores(tmp_path / "absent") is None

    def smoothed(limit):
        peak = CpuPeak(_Proc(48.0), limit_cores=limit)
        return [peak.sample() for _ in range(3)][-1]

    assert smoothed(cpu_limit_cores(v2)) == 96.0
    assert smoothed(None) == smoothed(1.5) == 48.0  # a core or more: one thread's own ceiling
