"""loadgate's built-in traffic for a model API: `locust -f locustfile.py --host URL`.

Reads the run's LoadTest from the file LOADGATE_CONFIG names (`loadgate.spec.read_runtime`);
without it, the spec's defaults. spec.scenario.protocol picks the module of requests and checks
(`protocols/`: loadgate, openai-embeddings, tei, openai-chat); each user picks one of its TASKS
weighted by `spec.scenario.weights`, with think time between requests (LOADGATE_WAIT_TIME_S,
default 0.5-1.5 s; after a 429/503 with Retry-After at least that long when
scenario.honorRetryAfter). Every request carries spec.target.headers, their values taken from
this process's environment (`loadgate.spec.headers`). Chat requests hand their TTFT,
inter-token latency and tokens to the latency recorder (`chat_metrics.py`), which
latency_listener.py loads in every process. Works under --processes and master/worker because
each process reads the file on import.
"""

from __future__ import annotations

import random

from locust import FastHttpUser

from loadgate.loadgen.protocols import module
from loadgate.loadgen.protocols.common import backoff_left_s
from loadgate.loadgen.think_time import wait_time_s
from loadgate.spec import Scenario, read_runtime, resolve_headers
from loadgate.urls import base

LOADTEST = read_runtime()
SCENARIO = LOADTEST.scenario if LOADTEST is not None else Scenario()
HEADERS = resolve_headers(LOADTEST.target.headers) if LOADTEST is not None else {}
THINK_TIME_S = wait_time_s()


def _task(fn, scenario):
    def task(user) -> None:
        fn(user, scenario)

    task.__name__ = fn.__name__
    return task


def weighted_tasks(scenario: Scenario) -> dict:
    """{task: weight} for the weights above 0, from the scenario's protocol module."""
    tasks = module(scenario.protocol).TASKS
    out = {_task(fn, scenario): int(scenario.weights.get(name, 0))
           for name, fn in tasks.items()}
    out = {fn: w for fn, w in out.items() if w > 0}
    if not out:
        raise RuntimeError("scenario.weights: every weight is 0, nothing to run")
    return out


class EmbeddingUser(FastHttpUser):
    """One client of the model API: think time, then one request of the protocol's mix."""

    host = base(LOADTEST.target.url) if LOADTEST is not None else None  # --host overrides it
    tasks = weighted_tasks(SCENARIO)
    default_headers = HEADERS
    health_path = LOADTEST.target.health_path if LOADTEST is not None else "/health"
    # A slow server must show up as latency or failures, never as a stuck user.
    network_timeout = 60.0
    connection_timeout = 10.0

    def wait_time(self) -> float:
        lo, hi = THINK_TIME_S
        return max(lo if lo == hi else random.uniform(lo, hi), backoff_left_s(self))
