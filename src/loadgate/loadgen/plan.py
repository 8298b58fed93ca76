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
            step up to maxUsers. A chat run with thresholds.ttftP95Ms also breaks on the TTFT
            p95 of the step's chat requests in the master's latency record.
constant    users at spawnRate until runTime (normally Locust's own -u/-r/-t do this).
rate, rateStages, rateBreakpoint (open loop)
            no closed-loop users: tick returns (0, 0.0) and `rps` is the offered rate now (the
            shape runs one open-loop driver per worker and sends each its share). A rate
            breakpoint judges step k once the next step has run a grace of min(5 s, step/3):
            on the requests *scheduled* in step k (the master's latency record), counting the
            ones still unanswered at their age so far: dropped share over maxDroppedRate,
            error ratio over maxErrorRate or p95 over p95Ms breaks it (defaults 1%, 1%, 500 ms
            once any of the three is set; a chat run is judged on TTFT p95 instead of the
            end-to-end p95, see analysis.breaking_point.slo_limits), and the run stops there.
            When a rate plan ends it
            drains first: `rps` 0, nothing new starts, and the run ends once every worker
            reports nothing in flight, or after stopTimeout.
A run-time cap (Locust's --run-time, which Locust ignores while a shape runs) stops any mode.
`window` is the plan window (stage or step index, see spec `Load.windows()`) running now.
"""

from __future__ import annotations

from loadgate.analysis.breaking_point import slo_limits  # the SLO, as the analysis judges it
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


def judge_ttft(wd, ttft_limit_ms: float | None) -> str | None:
    """Why the chat requests of a window (latency_record.WindowData) broke the TTFT limit."""
    p95 = wd.chat.ttft.percentile(0.95) if ttft_limit_ms is not None else None
    if p95 is not None and p95 > ttft_limit_ms:
        return f"TTFT p95 {p95:.0f} ms over ttftP95Ms {ttft_limit_ms:g}"
    return None


def judge_rate_step(snapshot: dict, p95_limit_ms: float | None, max_error_rate: float,
                    max_dropped_rate: float, ttft_limit_ms: float | None = None) -> str | None:
    """Why the SLO broke for the requests scheduled in one step, or None. `snapshot` is
    `latency_record.Record.snapshot(k)`: the step's data, and how many of its requests are
    still unanswered and at least how old they are (counted at that age in the p95). A None
    limit is not judged (a chat run's end-to-end p95 without p95Ms)."""
    wd = snapshot["data"]
    scheduled, dropped = wd.total("scheduled"), wd.total("dropped")
    if scheduled == 0:
        return "no request was scheduled during the step"
    if dropped / scheduled > max_dropped_rate:
        return (f"dropped {dropped / scheduled:.1%} of the scheduled requests "
                f"(over maxDroppedRate {max_dropped_rate:g})")
    requests = wd.requests
    if requests and wd.failures / requests > max_error_rate:
        return f"error ratio {wd.failures / requests:.3f} over maxErrorRate {max_error_rate:g}"
    latency = wd.completed_latency()
    waiting = int(snapshot.get("inFlight") or 0)
    if waiting:
        latency.record_ms(1000.0 * float(snapshot.get("inFlightAgeS") or 0.0), n=waiting)
    p95 = latency.percentile(0.95)
    if p95 is None:
        return "no request completed during the step"
    if p95_limit_ms is not None and p95 > p95_limit_ms:
        unanswered = f", counting {waiting} still unanswered" if waiting else ""
        return f"p95 {p95:.0f} ms over p95Ms {p95_limit_ms:g}{unanswered}"
    return judge_ttft(wd, ttft_limit_ms)


class ShapePlan:
    """One run's plan: spec.load, judged (breakpoint) against spec.thresholds' SLO."""

    def __init__(self, load: Load, thresholds: Thresholds | None = None, *, chat: bool = False):
        self.load = load
        self.mode = load.mode
        thresholds = thresholds or Thresholds()
        self.p95_limit_ms = thresholds.p95_ms
        self.max_error_rate = thresholds.max_error_rate
        self.max_dropped_rate = thresholds.max_dropped_rate
        self.ttft_limit_ms = thresholds.ttft_p95_ms
        self.chat = chat   # openai-chat: TTFT is part of a rate breakpoint's SLO
        self.stopped_reason: str | None = None
        self.breaking_step: dict | None = None
        self._step = -1
        self._window: StepWindow | None = None
        self.windows = load.windows()
        self.window = 0                     # the plan window running now
        self.rps: float | None = 0.0 if load.open_loop else None   # offered rate now
        self.draining = False
        self._drain_from = 0.0
        self._end_reason = ""
        self._judged = -1

    def tick(self, run_time: float, stats_total=None, run_time_cap: float | None = None,
             record=None):
        """(users, spawn_rate) to run now, or None to end the run (see stopped_reason).
        `record`: the master's latency record (rate loads: judging steps, draining; chat
        breakpoints: TTFT)."""
        if self.stopped_reason is not None:
            return None
        if run_time_cap and run_time >= run_time_cap:
            return self._stop(f"--run-time safety cap of {run_time_cap:.0f}s reached")
        if self.load.open_loop:
            return self._rate(run_time, record)
        return self._MODES[self.mode](self, run_time, stats_total, record)

    def _stop(self, reason: str):
        self.stopped_reason = reason
        return None

    def _constant(self, run_time: float, _total, _record):
        load = self.load
        if not load.users:
            return self._stop("no users configured")
        if load.run_time_s is not None and run_time >= load.run_time_s:
            return self._stop("run time reached")
        return int(load.users), float(load.spawn_rate or load.users)

    def _stages(self, run_time: float, _total, _record):
        end = 0.0
        for i, stage in enumerate(self.load.stages):
            end += stage.duration_s
            if run_time < end:
                self.window = i
                return int(stage.users), float(stage.spawn_rate)
        return self._stop("all stages done")

    def _breakpoint(self, run_time: float, total, record):
        bp = self.load.breakpoint
        step = int(run_time // bp.step_duration_s)
        grace = min(5.0, bp.step_duration_s / 3)
        if step != self._step:
            if self._window is not None and total is not None and self._judging:
                reason = self._window.judge(total, self.p95_limit_ms, self.max_error_rate)
                if reason is None and record is not None:
                    reason = judge_ttft(record.snapshot(self._step)["data"], self.ttft_limit_ms)
                if reason is not None:
                    users = bp.users_at_step(self._step)
                    self.breaking_step = {"step": self._step, "users": users, "reason": reason}
                    return self._stop(f"SLO broken for the whole step at {users} users: {reason}")
            self._step, self._window = step, None
        if step >= bp.steps:
            return self._stop(f"reached maxUsers {bp.max_users} without breaking the SLO")
        self.window = step
        if self._window is None and total is not None and \
                run_time - step * bp.step_duration_s >= grace:
            self._window = StepWindow(total)
        return bp.users_at_step(step), float(bp.spawn_rate)

    _MODES = {"constant": _constant, "stages": _stages, "breakpoint": _breakpoint}

    @property
    def _judging(self) -> bool:
        return (self.p95_limit_ms is not None or self.max_error_rate is not None
                or self.ttft_limit_ms is not None)

    # --- rate loads ----------------------------------------------------------------------------
    def _rate(self, run_time: float, record):
        if self.draining:
            return self._drain(run_time, record)
        broken = self._judge_due_step(run_time, record)
        if broken is not None:
            return self._begin_drain(run_time, broken, record)
        index = next((w.index for w in self.windows if run_time < w.end_s), None)
        if index is None:
            return self._begin_drain(run_time, self._done_reason(), record)
        self.window, self.rps = index, float(self.windows[index].rps or 0.0)
        return 0, 0.0

    def _done_reason(self) -> str:
        if self.mode == "rateBreakpoint":
            return (f"reached maxRps {self.load.rate_breakpoint.max_rps:g} without breaking "
                    "the SLO")
        return "all stages done" if self.mode == "rateStages" else "rate duration reached"

    def _judge_due_step(self, run_time: float, record) -> str | None:
        """The reason the last finished step broke the SLO, once its grace has passed."""
        if self.mode != "rateBreakpoint" or record is None:
            return None
        k = self._judged + 1
        step_s = self.load.rate_breakpoint.step_duration_s
        if k >= len(self.windows) or run_time < self.windows[k].end_s + min(5.0, step_s / 3):
            return None
        self._judged = k
        if not (self._judging or self.max_dropped_rate is not None):
            return None
        limits = slo_limits(self.p95_limit_ms, self.ttft_limit_ms, self.chat,
                            self.max_error_rate, self.max_dropped_rate)
        reason = judge_rate_step(record.snapshot(k), limits.p95_ms, limits.max_error_rate,
                                 limits.max_dropped_rate, limits.ttft_p95_ms)
        if reason is None:
            return None
        rps = self.windows[k].rps
        self.breaking_step = {"step": k, "rps": rps, "reason": reason}
        return f"SLO broken for the whole step at {rps:g} rps: {reason}"

    def _begin_drain(self, run_time: float, reason: str, record):
        self.draining, self.rps = True, 0.0
        self._drain_from, self._end_reason = run_time, reason
        return self._drain(run_time, record)

    def _drain(self, run_time: float, record):
        """Nothing new starts; end once every worker has nothing in flight, or at stopTimeout."""
        if record is None or record.drained() or \
                run_time - self._drain_from >= self.load.stop_timeout_s:
            return self._stop(self._end_reason)
        return 0, 0.0
