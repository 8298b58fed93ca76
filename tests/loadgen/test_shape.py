"""The shape's tick() sequence as pure data: a fake clock and fake runner stats.

Tests the plan behind LoadgateShape (`loadgate.loadgen.plan`), not the Locust class: importing
locust here would gevent-monkey-patch the whole pytest process. The Locust class itself runs
in the real Locust runs of test_locust_runs.py.
"""

import pytest
from support.loadtests import loadtest

from loadgate.loadgen.plan import ShapePlan, percentile


class FakeTotal:
    """The few fields of Locust's aggregated StatsEntry the shape reads."""

    def __init__(self):
        self.response_times: dict[int, int] = {}
        self.num_requests = 0
        self.num_failures = 0
        self.num_none_requests = 0

    def add(self, ms: int, count: int, failures: int = 0):
        self.response_times[ms] = self.response_times.get(ms, 0) + count
        self.num_requests += count
        self.num_failures += failures


def make_shape(load: dict, thresholds: dict | None = None, run_time_cap=None):
    lt = loadtest("s", url="http://127.0.0.1:1", load=load, thresholds=thresholds or {})
    plan = ShapePlan(lt.load, lt.thresholds)
    total = FakeTotal()
    clock = {"t": 0.0}

    class Shape:
        """tick() as LoadgateShape calls the plan: runner clock, aggregated stats, cap."""

        stopped_reason = property(lambda self: plan.stopped_reason)
        breaking_step = property(lambda self: plan.breaking_step)

        def tick(self):
            return plan.tick(clock["t"], total, run_time_cap)

    return Shape(), total, clock


def ticks(shape, clock, times):
    out = []
    for t in times:
        clock["t"] = t
        out.append(shape.tick())
    return out


def test_stages_sequence():
    shape, _, clock = make_shape({"stages": [
        {"duration": "10s", "users": 5, "spawnRate": 1},
        {"duration": "20s", "users": 12},
        {"duration": "5s", "users": 0, "spawnRate": 4}]})
    got = ticks(shape, clock, [0, 9.9, 10, 29.9, 30, 34.9, 35])
    assert got == [(5, 1.0), (5, 1.0), (12, 7.0), (12, 7.0), (0, 4.0), (0, 4.0), None]
    assert shape.stopped_reason == "all stages done"
    clock["t"] = 1  # once stopped, it stays stopped
    assert shape.tick() is None


def test_breakpoint_without_slo_runs_every_step():
    shape, total, clock = make_shape({"breakpoint": {
        "startUsers": 5, "stepUsers": 5, "stepDuration": "10s", "maxUsers": 22}})
    got = []
    for t in range(0, 51):
        clock["t"] = t
        total.add(5000, 10)  # terribly slow, but no thresholds: nothing to stop on
        got.append(shape.tick())
    users = [g[0] for g in got[:50]]
    assert users == [5] * 10 + [10] * 10 + [15] * 10 + [20] * 10 + [22] * 10
    assert all(g[1] == 5.0 for g in got[:50])
    assert got[50] is None and "reached maxUsers 22" in shape.stopped_reason


def run_breakpoint(latency_for_users, errors_for_users=lambda u: 0, *, max_users=50,
                   thresholds=None, until=200):
    """Tick once a second; each tick completes 10 requests at latency_for_users(users) ms."""
    shape, total, clock = make_shape(
        {"breakpoint": {"startUsers": 10, "stepUsers": 10, "stepDuration": "15s",
                        "maxUsers": max_users}},
        thresholds or {"p95Ms": 500, "maxErrorRate": 0.01})
    users, seq = 0, []
    for t in range(until):
        clock["t"] = float(t)
        result = shape.tick()
        seq.append(result)
        if result is None:
            return shape, seq, t
        users = result[0]
        total.add(latency_for_users(users), 10, errors_for_users(users))
    return shape, seq, None


def test_breakpoint_stops_after_a_whole_broken_step():
    # fine up to 20 users, p95 900 ms at 30 users
    shape, seq, stopped_at = run_breakpoint(lambda u: 100 if u <= 20 else 900)
    assert stopped_at == 45  # judged when step 2 (30 users, t 30..45) ends
    assert [s[0] for s in seq[:45]] == [10] * 15 + [20] * 15 + [30] * 15
    assert shape.breaking_step == {"step": 2, "users": 30,
                                   "reason": "p95 900 ms over p95Ms 500"}
    assert "SLO broken for the whole step at 30 users" in shape.stopped_reason


def test_breakpoint_stops_on_errors():
    shape, _, stopped_at = run_breakpoint(lambda u: 50, lambda u: 2 if u >= 20 else 0)
    assert stopped_at == 30 and shape.breaking_step["users"] == 20
    assert "error ratio 0.200 over maxErrorRate 0.01" in shape.stopped_reason


def test_breakpoint_ignores_a_slow_ramp_inside_the_grace():
    # slow only during the first seconds of each step (users spawning): never judged broken
    shape, total, clock = make_shape(
        {"breakpoint": {"startUsers": 10, "stepUsers": 10, "stepDuration": "15s",
                        "maxUsers": 30}}, {"p95Ms": 500})
    result = None
    for t in range(60):
        clock["t"] = float(t)
        result = shape.tick()
        if result is None:
            break
        total.add(2000 if t % 15 < 3 else 100, 10)
    assert result is None and "reached maxUsers" in shape.stopped_reason


def test_breakpoint_stops_when_nothing_completes():
    shape, total, clock = make_shape(
        {"breakpoint": {"startUsers": 1, "stepUsers": 1, "stepDuration": "6s", "maxUsers": 9}},
        {"p95Ms": 500})
    seq = ticks(shape, clock, range(0, 13))
    assert seq[6] is None and "no request completed" in shape.stopped_reason


@pytest.mark.parametrize("load", [
    {"stages": [{"duration": "10m", "users": 3}]},
    {"breakpoint": {"startUsers": 1, "stepUsers": 1, "stepDuration": "5m", "maxUsers": 9}},
])
def test_run_time_cap(load):
    shape, _, clock = make_shape(load, run_time_cap=30)
    assert ticks(shape, clock, [0, 29.5, 30]) == [(load_users(load), load_rate(load))] * 2 + [None]
    assert "safety cap of 30s" in shape.stopped_reason


def load_users(load):
    return load["stages"][0]["users"] if "stages" in load else load["breakpoint"]["startUsers"]


def load_rate(load):
    return float(load_users(load))


def test_percentile_buckets():
    assert percentile({100: 94, 900: 6}, 100, 0.95) == 900
    assert percentile({100: 96, 900: 4}, 100, 0.95) == 100
    assert percentile({}, 0, 0.95) == 0


# --- rate loads (open loop) ------------------------------------------------------------------

class FakeRecord:
    """The master's latency record as the plan reads it: per-step snapshots, drained or not.
    Each second of a step adds `rps` scheduled requests answered at latency(rps) ms."""

    def __init__(self, latency=lambda rps: 50.0, drops=lambda rps: 0.0, in_flight=0):
        from loadgate.loadgen.latency_record import WindowData

        self.data: dict[int, WindowData] = {}
        self.latency, self.drops, self.in_flight = latency, drops, in_flight
        self.is_drained = False
        self.WindowData = WindowData

    def add_second(self, step: int, rps: float) -> None:
        wd = self.data.setdefault(step, self.WindowData())
        n = int(rps)
        dropped = int(round(n * self.drops(rps)))
        for i in range(n):
            wd.scheduled_at("embed_single", float(i), dropped=i < dropped)
        cell = wd.cell("POST", "/embed [single]")
        for _ in range(n - dropped):
            cell.requests += 1
            cell.latency.record_ms(self.latency(rps))

    def snapshot(self, k):
        return {"data": self.data.get(k, self.WindowData()), "inFlight": self.in_flight,
                "inFlightAgeS": 3.0}

    def drained(self):
        return self.is_drained


def rate_run(load, thresholds=None, record=None, until=200):
    """Tick once a second like the shape; returns (plan, [(t, result, rps, window)], stop t)."""
    lt = loadtest("r", url="http://127.0.0.1:1", load=load, thresholds=thresholds or {})
    plan = ShapePlan(lt.load, lt.thresholds)
    seq = []
    for t in range(until):
        result = plan.tick(float(t), None, None, record=record)
        seq.append((t, result, plan.rps, plan.window))
        if result is None:
            return plan, seq, t
        if record is not None and not plan.draining:
            record.add_second(plan.window, plan.rps)
    return plan, seq, None


def test_rate_stages_announce_each_stage_then_drain():
    record = FakeRecord()
    plan, seq, stopped = rate_run({"rateStages": [
        {"duration": "3s", "rps": 10, "name": "steady"}, {"duration": "2s", "rps": 80}],
        "stopTimeout": "4s"}, record=record, until=8)
    assert [(r, rps, w) for _, r, rps, w in seq[:5]] == \
        [((0, 0.0), 10.0, 0)] * 3 + [((0, 0.0), 80.0, 1)] * 2
    assert plan.draining and seq[5][2] == 0.0 and stopped is None  # nothing drained yet
    record.is_drained = True
    assert plan.tick(8.0, record=record) is None and plan.stopped_reason == "all stages done"


def test_rate_drain_ends_at_the_stop_timeout():
    plan, seq, stopped = rate_run({"rate": {"rps": 5, "duration": "4s"}, "stopTimeout": "3s"},
                                  record=FakeRecord(), until=20)
    assert stopped == 7 and plan.stopped_reason == "rate duration reached"


def test_rate_breakpoint_stops_after_the_first_broken_step():
    # fine up to 30 req/s, p95 900 ms from 40 on: step 2 (40) breaks, judged 10/3 s after it
    record = FakeRecord(latency=lambda rps: 100 if rps <= 30 else 900)
    plan, seq, stopped = rate_run(
        {"breakpoint": {"startRps": 20, "stepRps": 10, "stepDuration": "10s", "maxRps": 100},
         "stopTimeout": "0s"}, {"p95Ms": 500}, record=record)
    assert [rps for _, _, rps, _ in seq[:30]] == [20.0] * 10 + [30.0] * 10 + [40.0] * 10
    assert stopped == 34  # step 2 ends at 30 s, judged at 30 + 10/3 s, drained at once
    assert plan.breaking_step == {"step": 2, "rps": 40.0,
                                  "reason": "p95 900 ms over p95Ms 500"}
    assert "SLO broken for the whole step at 40 rps" in plan.stopped_reason


def test_rate_breakpoint_breaks_on_drops_and_counts_the_unanswered():
    record = FakeRecord(drops=lambda rps: 0.2 if rps >= 30 else 0.0)
    plan, _, _ = rate_run({"breakpoint": {"startRps": 20, "stepRps": 10, "stepDuration": "6s",
                                          "maxRps": 60}, "stopTimeout": "0s"},
                          {"maxDroppedRate": 0.05}, record=record)
    assert plan.breaking_step["rps"] == 30.0
    assert "dropped 20.0% of the scheduled requests" in plan.breaking_step["reason"]
    # requests still unanswered at least 3 s after their step count at that age: over 500 ms
    record = FakeRecord(in_flight=50)
    plan, _, _ = rate_run({"breakpoint": {"startRps": 20, "stepRps": 10, "stepDuration": "6s",
                                          "maxRps": 60}, "stopTimeout": "0s"},
                          {"p95Ms": 500}, record=record)
    assert plan.breaking_step["step"] == 0
    assert "counting 50 still unanswered" in plan.breaking_step["reason"]


def test_rate_breakpoint_without_slo_runs_to_max_rps():
    plan, seq, stopped = rate_run({"breakpoint": {"startRps": 10, "stepRps": 10,
                                                  "stepDuration": "2s", "maxRps": 30},
                                   "stopTimeout": "0s"},
                                  record=FakeRecord(latency=lambda rps: 5000))
    assert stopped == 6 and "reached maxRps 30" in plan.stopped_reason


def test_users_plans_name_their_window():
    plan = ShapePlan(loadtest("s", url="http://127.0.0.1:1", load={"stages": [
        {"duration": "5s", "users": 2}, {"duration": "5s", "users": 4}]}).load)
    assert plan.tick(1.0) == (2, 2.0) and plan.window == 0 and plan.rps is None
    assert plan.tick(6.0) == (4, 2.0) and plan.window == 1
