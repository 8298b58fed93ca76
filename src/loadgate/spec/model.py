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
    the stage's user count within about one second. `name` and `thresholds` (optional) make
    rows `stages.<name>.p95Ms` judged on that stage's requests only."""

    duration_s: float
    users: int
    spawn_rate: float
    name: str | None = None
    thresholds: Thresholds | None = None


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


ARRIVALS = ("constant", "poisson")  # evenly spaced starts, or exponential gaps
DEFAULT_MAX_IN_FLIGHT = 256


@dataclass(frozen=True)
class Rate:
    """spec.load.rate (open loop): start `rps` requests per second in total, across all
    workers, for `duration`, whatever the answers."""

    rps: float
    duration_s: float


@dataclass(frozen=True)
class RateStage:
    """One entry of spec.load.rateStages: `rps` until `duration` has passed (cumulative, like
    stages); `name` and `thresholds` as for Stage."""

    duration_s: float
    rps: float
    name: str | None = None
    thresholds: Thresholds | None = None


@dataclass(frozen=True)
class RateBreakpoint:
    """spec.load.breakpoint with startRps/stepRps/maxRps: a capacity search by offered rate.
    Each step is judged on the requests scheduled in it; stops once a step breaks the SLO."""

    start_rps: float
    step_rps: float
    step_duration_s: float
    max_rps: float

    @property
    def steps(self) -> int:
        return math.ceil((self.max_rps - self.start_rps) / self.step_rps - 1e-9) + 1

    def rps_at_step(self, index: int) -> float:
        return min(self.max_rps, self.start_rps + index * self.step_rps)


@dataclass(frozen=True)
class PlanWindow:
    """One measured window of the plan: a stage, a breakpoint step, or the whole of a
    constant load. `users` for closed-loop loads, `rps` (offered) for rate loads."""

    index: int
    start_s: float
    end_s: float
    users: int | None = None
    rps: float | None = None
    name: str | None = None
    thresholds: Thresholds | None = None

    @property
    def label(self) -> str:
        """How rows and summaries name it: the stage's name, else its index."""
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True)
class Load:
    """spec.load: exactly one of `users`/`spawnRate`/`runTime` (constant; spawnRate defaults to
    users = all at once), `stages`, `breakpoint` (users or rate), `rate` or `rateStages`.
    `stopTimeout` defaults to 10s. Rate loads (open loop) also have `arrival` (constant or
    poisson) and `maxInFlight` (across all workers, default 256), resolved here whichever
    object they were written in."""

    users: int | None = None
    spawn_rate: float | None = None
    run_time_s: float | None = None
    stages: tuple[Stage, ...] | None = None
    breakpoint: Breakpoint | None = None
    stop_timeout_s: float = 10.0
    rate: Rate | None = None
    rate_stages: tuple[RateStage, ...] | None = None
    rate_breakpoint: RateBreakpoint | None = None
    arrival: str | None = None
    max_in_flight: int | None = None

    @property
    def mode(self) -> str:
        if self.stages is not None:
            return "stages"
        if self.breakpoint is not None:
            return "breakpoint"
        if self.rate is not None:
            return "rate"
        if self.rate_stages is not None:
            return "rateStages"
        if self.rate_breakpoint is not None:
            return "rateBreakpoint"
        return "constant"

    @property
    def open_loop(self) -> bool:
        """Requests started on a schedule (requests per second), not by waiting users."""
        return self.mode in ("rate", "rateStages", "rateBreakpoint")

    @property
    def max_users(self) -> int:
        if self.stages is not None:
            return max(s.users for s in self.stages)
        if self.breakpoint is not None:
            return self.breakpoint.max_users
        return int(self.users or 0)

    @property
    def max_rps(self) -> float:
        """The highest offered rate of a rate load (0 for users loads)."""
        return max((w.rps or 0.0 for w in self.windows()), default=0.0)

    @property
    def capacity_search(self) -> bool:
        """A load that pushes past the SLO on purpose to find the capacity: its gate is the
        capacity found (breakingPoint.rps >= minRps), not whole-run thresholds."""
        return self.mode in ("breakpoint", "rateBreakpoint")

    @property
    def duration_s(self) -> float:
        """The planned total (a breakpoint run may stop earlier)."""
        windows = self.windows()
        return float(windows[-1].end_s) if windows else float(self.run_time_s or 0.0)

    def windows(self) -> tuple[PlanWindow, ...]:
        """The plan as measured windows, in time order (seconds since the load started)."""
        if self.stages is not None:
            return _consecutive([(s.duration_s, {"users": s.users, "name": s.name,
                                                 "thresholds": s.thresholds})
                                 for s in self.stages])
        if self.rate_stages is not None:
            return _consecutive([(s.duration_s, {"rps": s.rps, "name": s.name,
                                                 "thresholds": s.thresholds})
                                 for s in self.rate_stages])
        if self.breakpoint is not None:
            bp = self.breakpoint
            return _consecutive([(bp.step_duration_s, {"users": bp.users_at_step(i)})
                                 for i in range(bp.steps)])
        if self.rate_breakpoint is not None:
            rb = self.rate_breakpoint
            return _consecutive([(rb.step_duration_s, {"rps": rb.rps_at_step(i)})
                                 for i in range(rb.steps)])
        if self.rate is not None:
            return _consecutive([(self.rate.duration_s, {"rps": self.rate.rps})])
        if self.run_time_s is not None:
            return _consecutive([(self.run_time_s, {"users": self.users})])
        return ()


def _consecutive(parts: list[tuple[float, dict]]) -> tuple[PlanWindow, ...]:
    out, start = [], 0.0
    for i, (duration, fields) in enumerate(parts):
        out.append(PlanWindow(index=i, start_s=start, end_s=start + duration, **fields))
        start += duration
    return tuple(out)


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
    max_dropped_rate: float | None = None


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
    ThresholdKey("maxDroppedRate", "max_dropped_rate", "droppedRate", "max",
                 "dropped share of the requests a rate load scheduled, a fraction "
                 "(closed-loop users never drop: 0)", maximum=1.0),
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
