"""The load plan behind the shape, as pure logic: (run time, runner stats) -> (users, rate) | None.

No locust import, so it is testable without gevent's monkey-patching. `shape.py` wraps it in
the one LoadTestShape Locust sees.

stages      hold stage i's users from the end of stage i-1 until the sum of durations 0..i;
            after the last stage, None (the run ends).
breakpoint  startUsers, then + stepUsers every stepDuration up to maxUsers. At the end of each
            step the step is judged on the requests completed in it after a settling grace
            (min(5 s, step/3), while the step's users spawn): p95 over thresholds.p95Ms, error
            ratio over thresholds.maxErrorRate, or no request completed at all -> the SLO is
            broken for that step, so stop early (None). Without those thresholds it runs every
            step up to maxUsers.
constant    users at spawnRate until runTimeS (normally Locust's own -u/-r/-t do this).
A run-time cap (Locust's --run-time, which Locust ignores while a shape runs) stops any mode.
"""

from __future__ import annotations

import math


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
    """One run's plan from the config dict (`loadgate.spec.to_config`)."""

    def __init__(self, config: dict):
        self.config = config
        self.mode = config.get("mode", "constant")
        thresholds = config.get("thresholds") or {}
        self.p95_limit_ms = thresholds.get("p95Ms")
        self.max_error_rate = thresholds.get("maxErrorRate")
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
        if self.mode == "stages":
            return self._stages(run_time)
        if self.mode == "breakpoint":
            return self._breakpoint(run_time, stats_total)
        return self._constant(run_time)

    def _stop(self, reason: str):
        self.stopped_reason = reason
        return None

    def _constant(self, run_time: float):
        users, rate = self.config.get("users"), self.config.get("spawnRate")
        if not users:
            return self._stop("no users configured")
        if run_time >= float(self.config.get("runTimeS") or math.inf):
            return self._stop("run time reached")
        return int(users), float(rate or users)

    def _stages(self, run_time: float):
        end = 0.0
        for stage in self.config["stages"]:
            end += float(stage["durationS"])
            if run_time < end:
                return int(stage["users"]), float(stage["spawnRate"])
        return self._stop("all stages done")

    def _breakpoint(self, run_time: float, total):
        bp = self.config["breakpoint"]
        start, step_users, max_users = bp["startUsers"], bp["stepUsers"], bp["maxUsers"]
        step_s = float(bp["stepDurationS"])
        steps = math.ceil((max_users - start) / step_users) + 1
        step = int(run_time // step_s)
        grace = min(5.0, step_s / 3)
        if step != self._step:
            if self._window is not None and total is not None and self._judging:
                reason = self._window.judge(total, self.p95_limit_ms, self.max_error_rate)
                if reason is not None:
                    users = min(max_users, start + self._step * step_users)
                    self.breaking_step = {"step": self._step, "users": users, "reason": reason}
                    return self._stop(f"SLO broken for the whole step at {users} users: {reason}")
            self._step, self._window = step, None
        if step >= steps:
            return self._stop(f"reached maxUsers {max_users} without breaking the SLO")
        if self._window is None and total is not None and run_time - step * step_s >= grace:
            self._window = StepWindow(total)
        return min(max_users, start + step * step_users), float(bp.get("spawnRate") or step_users)

    @property
    def _judging(self) -> bool:
        return self.p95_limit_ms is not None or self.max_error_rate is not None
