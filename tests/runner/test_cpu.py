"""CpuSampler on real processes: a busy loop reads high, a sleeper reads near zero."""

from __future__ import annotations

import subprocess
import sys
import time

from loadgate.runner.cpu import CpuSampler

BUSY = "import time\nend = time.monotonic() + 8\nwhile time.monotonic() < end: pass\n"
IDLE = "import time\ntime.sleep(8)\n"


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_busiest_process_counts_and_idle_ones_do_not():
    busy, idle = _spawn(BUSY), _spawn(IDLE)
    try:
        sampler = CpuSampler([busy.pid])
        idle_only = CpuSampler([idle.pid])
        not_loaded = CpuSampler([busy.pid])
        for _ in range(4):
            time.sleep(1.0)
            sampler.sample()
            idle_only.sample()
            not_loaded.sample(count=False)  # before users run: clocks move, nothing counts
    finally:
        for p in (busy, idle):
            p.terminate()
            p.wait()
    # a one-thread loop is one core at most; on a shared 2-core machine it may get less
    assert 30 < sampler.result() <= 105, sampler.result()
    assert sampler.samples >= 1
    assert idle_only.result() < 10
    assert not_loaded.result() is None


def test_a_process_that_ends_is_dropped():
    p = _spawn("pass")
    sampler = CpuSampler([p.pid])
    p.wait()
    sampler.sample()
    assert sampler.result() is None
