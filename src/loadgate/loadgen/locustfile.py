"""loadgate's built-in traffic for the embedding server: `locust -f locustfile.py --host URL`.

Reads the run's LoadTest from the file LOADGATE_CONFIG names (`loadgate.spec.read_runtime`);
without it, the spec's defaults. Each user picks a request of the protocol's TASKS
(`protocols/loadgate.py`) weighted by `spec.scenario.weights` (default single 8, batch 2,
health 1), with think time between requests (LOADGATE_WAIT_TIME_S, default 0.5-1.5 s). Works
under --processes and master/worker because each process reads the file on import.
"""

from __future__ import annotations

from locust import FastHttpUser, between, constant

from loadgate.loadgen.protocols import loadgate as protocol
from loadgate.loadgen.think_time import wait_time_s
from loadgate.spec import Scenario, read_runtime
from loadgate.urls import base

LOADTEST = read_runtime()
SCENARIO = LOADTEST.scenario if LOADTEST is not None else Scenario()


def _task(fn, scenario):
    def task(user) -> None:
        fn(user, scenario)

    task.__name__ = fn.__name__
    return task


def weighted_tasks(scenario: Scenario) -> dict:
    """{task: weight} for the weights above 0."""
    out = {_task(fn, scenario): int(scenario.weights.get(name, 0))
           for name, fn in protocol.TASKS.items()}
    out = {fn: w for fn, w in out.items() if w > 0}
    if not out:
        raise RuntimeError("scenario.weights: every weight is 0, nothing to run")
    return out


def _wait_time():
    lo, hi = wait_time_s()
    return constant(lo) if lo == hi else between(lo, hi)


class EmbeddingUser(FastHttpUser):
    """One client of the embedding API: think time, then a single, batch or health request."""

    host = base(LOADTEST.target.url) if LOADTEST is not None else None  # --host overrides it
    tasks = weighted_tasks(SCENARIO)
    wait_time = _wait_time()
    # A slow server must show up as latency or failures, never as a stuck user.
    network_timeout = 60.0
    connection_timeout = 10.0
