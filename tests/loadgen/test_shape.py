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
