"""The load plan behind the shape, as pure logic: (run time, runner stats) -> (users, rate) | None.

No locust import, so it is testable without gevent's monkey-patching. `shape.py` wraps it in
the one LoadTestShape Locust sees. It takes the parsed `Load` and `Thresholds`; each load mode
is one method, found through `_MODES` (a new mode is a method and an entry there).

stages      hold stage i's users from the end of stage i-1 until the sum of durations 0..i;
            after the last stage, None (the run ends).
breakpoint  startUsers, then + stepUsers every stepDuration up to maxUsers. At the end of each
            step the step is judged on the requests completed in it after a settling grace
            (min(5 s, step/3), while the step's users spawn): p95 over thresholds.p95Ms, error
            ratio over thresholds.maxErrorRate, or no request completed at all -> the SLO is
            broken for that step, so stop early (None). Without those thresholds it runs every
            step up to maxUsers.
constant    users at spawnRate until runTime (normally Locust's own -u/-r/-t do this).
A run-time cap (Locust's --run-time, which Locust ignores while a shape runs) stops any mode.
"""

from __future__ import annotations

from loadgate.spec import Load, Thresholds


def percentile(response_times: dict, count: int, fraction: float) -> float:
    """Locust's bucketed percentile: response_times maps rounded ms -> number of requests."""
    if count <= 0:
        return 0.0
    within, processed = int(count * fraction), 0
    for ms in sorted(response_times, reverse=True):
        processed += response_times[ms]
        if count - processed <= within:
            return float(ms)
    return 0.0


class StepWindow:
    """Counters of the runner's aggregated stats at one moment, to diff a step's requests."""

    def __init__(self, total):
        self.response_times = dict(total.response_times)
        self.num_requests = total.num_requests
        self.num_none = getattr(total, "num_none_requests", 0)
        self.num_failures = total.num_failures

    def judge(self, total, p95_limit_ms, max_error_rate) -> str | None:
        """Why the SLO is broken between this snapshot and `total` now, or None if it held."""
        requests = total.num_requests - self.num_requests  # Locust counts failures here too
        failures = total.num_failures - self.num_failures
        if requests <= 0:
            return "no request completed during the step"
        if max_error_rate is not None:
            ratio = failures / requests
            if ratio > max_error_rate:
                return f"error ratio {ratio:.3f} over maxErrorRate {max_error_rate:g}"
        if p95_limit_ms is not None:
            timed = requests - (getattr(total, "num_none_requests", 0) - self.num_none)
            times = {ms: n - self.response_times.get(ms, 0)
                     for ms, n in total.response_times.items()}
            p95 = percentile({ms: n for ms, n in times.items() if n > 0}, timed, 0.95)
            if p95 > p95_limit_ms:
                return f"p95 {p95:.0f} ms over p95Ms {p95_limit_ms:g}"
        return None


class ShapePlan:
    """One run's plan: spec.load, judged (breakpoint) against spec.thresholds' SLO."""

    def __init__(self, load: Load, thresholds: Thresholds | None = None):
        self.load = load
        self.mode = load.mode
        thresholds = thresholds or Thresholds()
        self.p95_limit_ms = thresholds.p95_ms
        self.max_error_rate = thresholds.max_error_rate
        self.stopped_reason: str | None = None
        self.breaking_step: dict | None = None
        self._step = -1
        self._window: StepWindow | None = None

    def tick(self, run_time: float, stats_total=None, run_time_cap: float | None = None):
        """(users, spawn_rate) to run now, or None to end the run (see stopped_reason)."""
        if self.stopped_reason is not None:
            return None
        if run_time_cap and run_time >= run_time_cap:
            return self._stop(f"--run-time safety cap of {run_time_cap:.0f}s reached")
        return self._MODES[self.mode](self, run_time, stats_total)

    def _stop(self, reason: str):
        self.stopped_reason = reason
        return None

    def _constant(self, run_time: float, _total):
        load = self.load
        if not load.users:
            return self._stop("no users configured")
        if load.run_time_s is not None and run_time >= load.run_time_s:
            return self._stop("run time reached")
        return int(load.users), float(load.spawn_rate or load.users)

    def _stages(self, run_time: float, _total):
        end = 0.0
        for stage in self.load.stages:
            end += stage.duration_s
            if run_time < end:
                return int(stage.users), float(stage.spawn_rate)
        return self._stop("all stages done")

    def _breakpoint(self, run_time: float, total):
        bp = self.load.breakpoint
        step = int(run_time // bp.step_duration_s)
        grace = min(5.0, bp.step_duration_s / 3)
        if step != self._step:
            if self._window is not None and total is not None and self._judging:
                reason = self._window.judge(total, self.p95_limit_ms, self.max_error_rate)
                if reason is not None:
                    users = bp.users_at_step(self._step)
                    self.breaking_step = {"step": self._step, "users": users, "reason": reason}
                    return self._stop(f"SLO broken for the whole step at {users} users: {reason}")
            self._step, self._window = step, None
        if step >= bp.steps:
            return self._stop(f"reached maxUsers {bp.max_users} without breaking the SLO")
        if self._window is None and total is not None and \
                run_time - step * bp.step_duration_s >= grace:
            self._window = StepWindow(total)
        return bp.users_at_step(step), float(bp.spawn_rate)

    _MODES = {"constant": _constant, "stages": _stages, "breakpoint": _breakpoint}

    @property
    def _judging(self) -> bool:
        return self.p95_limit_ms is not None or self.max_error_rate is not None
