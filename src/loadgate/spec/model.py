"""The parsed LoadTest: frozen dataclasses, snake_case fields, durations in seconds (floats).

Defaults live here, next to the fields, so the parser, the CRD and the docs agree on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

API_VERSION = "loadgate.dev/v1alpha1"
KIND = "LoadTest"


@dataclass(frozen=True)
class Target:
    """spec.target: `url` (required), `healthPath` (default /health), `readyTimeout` (5m)."""

    url: str
    health_path: str = "/health"
    ready_timeout_s: float = 300.0


@dataclass(frozen=True)
class Stage:
    """One entry of spec.load.stages: hold `users` until `duration` has passed (cumulative
    Locust-style: stage i ends at the sum of durations 0..i). `spawnRate` defaults to reaching
    the stage's user count within about one second."""

    duration_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Breakpoint:
    """spec.load.breakpoint: start at `startUsers`, add `stepUsers` every `stepDuration` up to
    `maxUsers`; stops early once the SLO is broken for a whole step. `spawnRate` defaults to
    `stepUsers` (each step ramps in about one second)."""

    start_users: int
    step_users: int
    step_duration_s: float
    max_users: int
    spawn_rate: float

    @property
    def steps(self) -> int:
        return math.ceil((self.max_users - self.start_users) / self.step_users) + 1

    def users_at_step(self, index: int) -> int:
        return min(self.max_users, self.start_users + index * self.step_users)


@dataclass(frozen=True)
class Load:
    """spec.load: exactly one of `users`/`spawnRate`/`runTime` (constant; spawnRate defaults to
    users = all at once), `stages`, or `breakpoint`. `stopTimeout` defaults to 10s."""

    users: int | None = None
    spawn_rate: float | None = None
    run_time_s: float | None = None
    stages: tuple[Stage, ...] | None = None
    breakpoint: Breakpoint | None = None
    stop_timeout_s: float = 10.0

    @property
    def mode(self) -> str:
        if self.stages is not None:
            return "stages"
        if self.breakpoint is not None:
            return "breakpoint"
        return "constant"

    @property
    def max_users(self) -> int:
        if self.stages is not None:
            return max(s.users for s in self.stages)
        if self.breakpoint is not None:
            return self.breakpoint.max_users
        return int(self.users or 0)

    @property
    def capacity_search(self) -> bool:
        """A load that pushes past the SLO on purpose to find the capacity: its gate is the
        capacity found (breakingPoint.rps >= minRps), not whole-run thresholds."""
        return self.mode == "breakpoint"

    @property
    def duration_s(self) -> float:
        """The planned total (a breakpoint run may stop earlier)."""
        if self.stages is not None:
            return float(sum(s.duration_s for s in self.stages))
        if self.breakpoint is not None:
            return self.breakpoint.steps * self.breakpoint.step_duration_s
        return float(self.run_time_s or 0.0)


def _default_weights() -> dict[str, int]:
    return {"single": 8, "batch": 2, "health": 1}


@dataclass(frozen=True)
class Scenario:
    """spec.scenario for the built-in locustfile. `weights` (default single 8, batch 2,
    health 1; a given weights object is complete: missing names weigh 0), `singleTexts` [1, 2]
    and `batchTexts` [8, 16] are inclusive ranges of texts per /embed request."""

    weights: dict[str, int] = field(default_factory=_default_weights)
    single_texts: tuple[int, int] = (1, 2)
    batch_texts: tuple[int, int] = (8, 16)


@dataclass(frozen=True)
class LocustfileRef:
    """spec.locustfile.configMapRef: a user locustfile replacing the built-in one."""

    config_map_name: str
    key: str = "locustfile.py"


@dataclass(frozen=True)
class Thresholds:
    """spec.thresholds (all optional): one field per THRESHOLD_KEYS row, and `endpoints` keyed
    by Locust request name with the same fields."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None
    endpoints: dict[str, Thresholds] = field(default_factory=dict)


@dataclass(frozen=True)
class ThresholdKey:
    """One key of spec.thresholds: how it is written, which Thresholds field holds it, which
    measured figure of summary.json it limits and which way, and the values it may take."""

    key: str                 # as written in the manifest and in `thresholds` rows: "p95Ms"
    field: str               # the Thresholds attribute: "p95_ms"
    metric: str              # the summary / endpoint figure it limits: "p95Ms"
    kind: str                # "max": observed <= limit passes; "min": observed >= limit
    help: str
    positive: bool = False   # must be > 0
    maximum: float | None = None


# The one table of threshold keys: the parser validates by it, the gate makes its rows from it
# and `loadgate gate` its flags. A new key is a row here plus a Thresholds field (and the CRD).
THRESHOLD_KEYS = (
    ThresholdKey("p95Ms", "p95_ms", "p95Ms", "max", "95th percentile latency, ms", positive=True),
    ThresholdKey("p99Ms", "p99_ms", "p99Ms", "max", "99th percentile latency, ms", positive=True),
    ThresholdKey("maxErrorRate", "max_error_rate", "errorRate", "max",
                 "failed share of requests, a fraction (0.01 = one in a hundred)", maximum=1.0),
    ThresholdKey("minRps", "min_rps", "rps", "min", "throughput, requests per second"),
)


@dataclass(frozen=True)
class Baseline:
    """spec.baseline: compare with a finished LoadTest; `maxRegressionPct` defaults to 10."""

    load_test_ref: str
    max_regression_pct: float = 10.0


@dataclass(frozen=True)
class Timeouts:
    """spec.timeouts: `workersConnect` (default 2m), `deadline` for the run until its load
    finished (the parser's default: `minimum_deadline_s`; the collector has its own budget)."""

    workers_connect_s: float = 120.0
    deadline_s: float = 1800.0


# On top of the target's readyTimeout, the planned load and its stopTimeout: pods starting,
# workers connecting and Locust writing its reports.
DEADLINE_MARGIN_S = 120.0


def minimum_deadline_s(target: Target, load: Load) -> float:
    """The shortest `timeouts.deadline` a run can keep (also its default): the target's
    readyTimeout + the planned load (`Load.duration_s`) + stopTimeout + DEADLINE_MARGIN_S."""
    return target.ready_timeout_s + load.duration_s + load.stop_timeout_s + DEADLINE_MARGIN_S


@dataclass(frozen=True)
class LoadTest:
    """A whole LoadTest. `workers` defaults to 1, `ttlSecondsAfterFinished` to 86400,
    `namespace` to "default". `raw_spec` is the spec exactly as written."""

    name: str
    namespace: str
    target: Target
    load: Load
    workers: int = 1
    scenario: Scenario = field(default_factory=Scenario)
    locustfile: LocustfileRef | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    baseline: Baseline | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    ttl_seconds_after_finished: int = 86400
    raw_spec: dict = field(default_factory=dict)
