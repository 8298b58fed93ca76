"""Window measurement on hand-made history rows where the right answer is known exactly."""

from __future__ import annotations

import pytest

from loadgate.analysis import HistoryPoint, find_breaking_point, windows
from loadgate.analysis.windows import QUANTILES, cumulative_window_quantile


def point(t, users, total, fails=0, avg=10.0, pct=10.0, cumulative=None):
    values = cumulative or dict.fromkeys(QUANTILES, pct)
    return HistoryPoint(t=t, users=users, current_rps=0.0, current_fail_per_s=0.0,
                        p50_ms=values["50%"], p95_ms=values["95%"], p99_ms=values["99%"],
                        max_ms=values["100%"], total_requests=total, total_failures=fails,
                        total_avg_ms=avg, percentiles=values)


def test_cumulative_percentiles_are_differenced():
    """100 requests at 10 ms, then 100 at 100 ms: the second window's p95 is ~100, not the
    cumulative p95 of both halves."""
    a = point(10, 5, 100, cumulative=dict.fromkeys(QUANTILES, 10.0))
    both = {"50%": 10.0, "66%": 100.0, "75%": 100.0, "80%": 100.0, "90%": 100.0,
            "95%": 100.0, "98%": 100.0, "99%": 100.0, "99.9%": 100.0, "99.99%": 100.0,
            "100%": 100.0}
    b = point(20, 10, 200, cumulative=both)
    p95 = cumulative_window_quantile(a, b)
    assert 90 <= p95 <= 100


def test_rps_errors_and_mean_from_cumulative_counters():
    pts = [point(0, 0, 0)]
    total, fails = 0, 0
    for t in range(1, 13):
        users = 5 if t <= 6 else 10
        total += 10 * users  # exactly 10 req/s per user
        fails += 0 if users == 5 else 5  # 5 failures/s only at 10 users
        pts.append(point(t, users, total, fails))
    ws = windows(pts, windowed=True)
    assert [w.users for w in ws] == [5, 10]
    assert ws[0].rps == 50 and ws[0].error_rate == 0
    assert ws[1].rps == 100 and ws[1].error_rate == 0.05
    bp = find_breaking_point(ws, p95_limit_ms=500, max_error_rate=0.01)
    assert bp["found"] and bp["reason"].startswith("errors") and bp["users"] == 10
    assert bp["rps"] == 50  # the capacity is what held within the SLO
    ok = find_breaking_point(ws, p95_limit_ms=500, max_error_rate=0.1)
    assert not ok["found"] and ok["rps"] == 100


def test_continuous_ramp_is_merged_into_measurable_windows():
    pts, total = [], 0
    for t in range(0, 20):
        total += 4 * t
        pts.append(point(t, t, total))  # users change every second
    ws = windows(pts, windowed=True)
    assert ws and all(w.end_s - w.start_s >= 2 for w in ws)
    assert [w.users for w in ws] == sorted(w.users for w in ws)


def test_small_user_steps_and_overload_from_the_start():
    pts, total = [point(0, 0, 0)], 0
    for t in range(1, 13):
        users = 95 if t <= 6 else 100
        total += 500 if t <= 6 else 495  # 5% more users, 1% less throughput: noise
        pts.append(point(t, users, total))
    assert not find_breaking_point(windows(pts, windowed=True))["found"]

    slow = [point(0, 0, 0)] + [point(t, 200, 100 * t, pct=900.0) for t in range(1, 8)]
    bp = find_breaking_point(windows(slow, windowed=True), p95_limit_ms=500)
    assert bp["found"] and bp["metSlo"] is False and bp["rps"] == 0
    from loadgate.analysis import breaking_point_sentence
    assert "no step met the SLO" in breaking_point_sentence(bp)


def test_drift_compares_first_and_last_minute():
    from loadgate.analysis import latency_drift

    pts, total = [], 0
    for t in range(0, 181):
        total += 50
        pts.append(point(t, 50, total, pct=100.0 if t < 90 else 150.0))
    d = latency_drift(pts, windowed=True)
    assert d["firstMinuteP95Ms"] == 100 and d["lastMinuteP95Ms"] == 150
    assert d["changePct"] == 50.0 and d["lastMinuteRps"] == 50
    assert latency_drift(pts[:100], windowed=True) is None  # too short for two minutes


@pytest.mark.parametrize(("run_s", "has_drift"), [(120, True), (110, False)])
def test_drift_counts_the_whole_run(run_s, has_drift):
    """Rows as Locust writes them for `--run-time {run_s}s` with users all at once: the first a
    second in, whole-second timestamps, users 0 again in the last row. 2m is two minutes."""
    from loadgate.analysis import latency_drift

    pts, total = [], 0
    for t in range(1, run_s + 1):
        total += 20
        pts.append(point(t, 0 if t == run_s else 20, total))
    assert (latency_drift(pts, windowed=True) is not None) is has_drift


def test_a_step_cut_short_at_the_end_is_not_measured():
    pts, total = [point(0, 0, 0)], 0
    for t in range(1, 8):
        total += 50
        pts.append(point(t, 5, total))
    pts.append(point(8, 10, total + 5))  # one second at 10 users, then the run stopped
    ws = windows(pts, windowed=True)
    assert [w.users for w in ws] == [5]
    assert not find_breaking_point(ws)["found"]
