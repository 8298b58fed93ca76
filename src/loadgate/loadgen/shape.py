"""One LoadTestShape for `stages` and `breakpoint` loads, driven by data from LOADGATE_CONFIG.

Modelled on Locust's examples/custom_shape/stages.py: the plan is data (to_config's `stages` or
`breakpoint`), not code. Locust runs shapes on the master only; add this file with
`-f locustfile.py,shape.py`.

stages      hold stage i's users from the end of stage i-1 until the sum of durations 0..i;
            after the last stage, None (the run ends).
breakpoint  startUsers, then + stepUsers every stepDuration up to maxUsers. At the end of each
            step the step is judged on the requests completed in it (after a short settling
            grace): p95 over thresholds.p95Ms, error ratio over thresholds.maxErrorRate, or no
            request completed at all -> the SLO is broken for that step, so stop early (None)
            and log why. Without those thresholds it runs every step.
"""

from __future__ import annotations

import logging
import math

from locust import LoadTestShape
from locust.stats import calculate_response_time_percentile, diff_response_time_dicts

from loadgate.loadgen.runconfig import load_config

log = logging.getLogger("loadgate.shape")


class StepWindow:
    """Counters of the runner's aggregated stats at one moment, to diff a step's requests."""

    def __init__(self, total):
        self.response_times = dict(total.response_times)
        self.num_requests = total.num_requests
        self.num_none = getattr(total, "num_none_requests", 0)
        self.num_failures = total.num_failures

    def judge(self, total, p95_limit_ms, max_error_rate) -> str | None:
        """Why the SLO is broken between this snapshot and `total` now, or None if it held."""
        requests = total.num_requests - self.num_requests
        failures = total.num_failures - self.num_failures
        if requests <= 0:
            return "no request completed during the step"
        if max_error_rate is not None:
            ratio = failures / max(1, requests)
            if ratio > max_error_rate:
                return f"error ratio {ratio:.3f} over maxErrorRate {max_error_rate}"
        if p95_limit_ms is not None:
            timed = requests - (getattr(total, "num_none_requests", 0) - self.num_none)
            times = diff_response_time_dicts(total.response_times, self.response_times)
            p95 = calculate_response_time_percentile(times, timed, 0.95) if timed > 0 else 0
            if p95 > p95_limit_ms:
                return f"p95 {p95:.0f} ms over p95Ms {p95_limit_ms:g}"
        return None


class LoadgateShape(LoadTestShape):
    """Stages or breakpoint from the run's config. `config` is for tests; Locust passes none.

    Locust ignores --run-time while a shape runs, so the shape enforces it itself as a safety
    cap (use_common_options = True: we read it, no "will be ignored" warning).
    """

    use_common_options = True

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.config = load_config() if config is None else config
        self.mode = self.config.get("mode", "constant")
        thresholds = self.config.get("thresholds") or {}
        self.p95_limit_ms = thresholds.get("p95Ms")
        self.max_error_rate = thresholds.get("maxErrorRate")
        self.stopped_reason: str | None = None
        self.breaking_step: dict | None = None
        self._step = -1
        self._window: StepWindow | None = None

    def tick(self):
        run_time = self.get_run_time()
        if self.stopped_reason is not None:
            return None
        cap = self._run_time_cap()
        if cap and run_time >= cap:
            return self._stop(f"--run-time safety cap of {cap:.0f}s reached")
        if self.mode == "stages":
            return self._stages_tick(run_time)
        if self.mode == "breakpoint":
            return self._breakpoint_tick(run_time)
        return self._constant_tick(run_time)

    def _stop(self, reason: str):
        self.stopped_reason = reason
        log.warning("loadgate shape stopping at %.0fs: %s", self.get_run_time(), reason)
        return None

    def _constant_tick(self, run_time: float):
        users, rate = self.config.get("users"), self.config.get("spawnRate")
        if not users or run_time >= float(self.config.get("runTimeS") or math.inf):
            return self._stop("run time reached") if users else None
        return int(users), float(rate or users)

    def _stages_tick(self, run_time: float):
        end = 0.0
        for stage in self.config["stages"]:
            end += float(stage["durationS"])
            if run_time < end:
                return int(stage["users"]), float(stage["spawnRate"])
        return self._stop("all stages done")

    def _breakpoint_tick(self, run_time: float):
        bp = self.config["breakpoint"]
        start, step_users, max_users = bp["startUsers"], bp["stepUsers"], bp["maxUsers"]
        step_s = float(bp["stepDurationS"])
        steps = math.ceil((max_users - start) / step_users) + 1
        step = int(run_time // step_s)
        grace = min(5.0, step_s / 3)  # let the step's users spawn and settle before judging
        if step != self._step:
            if self._step >= 0 and self._judging:
                reason = self._judge()
                if reason is not None:
                    users = min(max_users, start + self._step * step_users)
                    self.breaking_step = {"step": self._step, "users": users, "reason": reason}
                    return self._stop(f"SLO broken for the whole step at {users} users: {reason}")
            self._step, self._window = step, None
        if step >= steps:
            return self._stop(f"reached maxUsers {max_users} without breaking the SLO")
        if self._window is None and run_time - step * step_s >= grace and self.runner is not None:
            self._window = StepWindow(self.runner.stats.total)
        return min(max_users, start + step * step_users), float(bp.get("spawnRate") or step_users)

    def _run_time_cap(self) -> float | None:
        options = getattr(getattr(self.runner, "environment", None), "parsed_options", None)
        value = getattr(options, "run_time", None)
        return float(value) if isinstance(value, int | float) and value > 0 else None

    @property
    def _judging(self) -> bool:
        return self.p95_limit_ms is not None or self.max_error_rate is not None

    def _judge(self) -> str | None:
        if self._window is None or self.runner is None:
            return None  # the step was never observed (e.g. ticks skipped): no verdict
        return self._window.judge(self.runner.stats.total, self.p95_limit_ms,
                                  self.max_error_rate)
