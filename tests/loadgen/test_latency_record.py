"""The mergeable histogram and the latency record: accuracy, merging, the file, its reader.

Pure data, no Locust: the recording itself runs in the real runs of tests/runner.
"""

from __future__ import annotations

import json
import math
import random

import pytest

from loadgate.histogram import RELATIVE_ERROR, Histogram, bucket_bounds, bucket_index
from loadgate.loadgen.control import Control, ProcessState, controls, shares
from loadgate.loadgen.latency_record import Part, Record, WindowData, read_record, record_path
from loadgate.spec import PlanWindow


def exact(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(1, math.ceil(q * len(s))) - 1]


@pytest.mark.parametrize("draw", [
    lambda r: r.lognormvariate(11.5, 1.2),    # ~100 ms median, long tail
    lambda r: r.uniform(0, 2_000_000),        # up to 2 s
    lambda r: r.expovariate(1 / 20_000),      # ~20 ms mean
    lambda r: r.choice([150, 250, 499_000, 504_000]),  # a 504 ms p95 beside a 500 ms limit
])
def test_percentiles_are_within_one_percent(draw):
    rng = random.Random(7)
    values = [int(draw(rng)) for _ in range(20_000)]
    h = Histogram()
    for v in values:
        h.record(v)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        want = exact(values, q) / 1000
        got = h.percentile(q)
        assert abs(got - want) <= max(RELATIVE_ERROR * want, 0.0005) + 1e-9, (q, got, want)
    assert h.percentile(1.0) == max(values) / 1000          # max and mean are exact
    assert h.mean_ms() == pytest.approx(sum(values) / len(values) / 1000, abs=1e-3)
    assert h.count == len(values)


def test_buckets_tile_the_range_and_are_narrow():
    previous = -1
    for i in range(0, 4000):
        low, high = bucket_bounds(i)
        assert low == previous + 1 and bucket_index(low) == bucket_index(high) == i
        if i >= 256:
            assert (high - low + 1) / low <= 1 / 128
        previous = high
    assert bucket_index(3_600_000_000) < 4000   # an hour in µs: a few thousand buckets at most


def test_merging_parts_equals_recording_everything_in_one():
    rng = random.Random(3)
    values = [int(rng.lognormvariate(10, 1)) for _ in range(5000)]
    whole, a, b = Histogram(), Histogram(), Histogram()
    for i, v in enumerate(values):
        whole.record(v)
        (a if i % 3 else b).record(v)
    merged = Histogram().merge(a).merge(b)
    assert merged.counts == whole.counts and merged.total == whole.total
    assert merged.max == whole.max
    back = Histogram.from_json(json.loads(json.dumps(merged.to_json())))
    assert back.counts == whole.counts and back.percentile(0.95) == whole.percentile(0.95)


@pytest.mark.parametrize("doc", [
    [1, 2], {"b": [1]}, {"b": [1, -2]}, {"b": [1, 2], "n": 3}, {"b": ["x", 1]},
    {"b": [], "sum": -1},
])
def test_histogram_json_is_checked(doc):
    with pytest.raises(ValueError):
        Histogram.from_json(doc)


def window(latencies_ms, *, scheduled=0, dropped=0, failures=0, name="/embed [single]"):
    wd = WindowData()
    cell = wd.cell("POST", name)
    for ms in latencies_ms:
        cell.requests += 1
        cell.latency.record_ms(ms)
    cell.failures = failures
    for i in range(scheduled):
        wd.scheduled_at("embed_single", 1000.0 + i, dropped=i < dropped)
    return wd


def test_record_merges_worker_parts_and_round_trips_through_its_file(tmp_path):
    plan = (PlanWindow(0, 0, 10, rps=10.0, name="steady"),
            PlanWindow(1, 10, 20, rps=80.0, name="spike"))
    rec = Record(mode="rate", arrival="poisson", max_in_flight=64, plan=plan)
    rec.begin_window(0, now=100.0)
    rec.begin_window(1, now=110.0)
    rec.end(now=120.0)
    for worker in ("w1", "w2"):
        part = Part()
        part.windows = {0: window([20, 30], scheduled=2), 1: window([900], scheduled=8,
                                                                      dropped=5)}
        part.tasks = {"embed_single": "POST /embed [single]"}
        rec.merge_message(worker, {"part": part.to_json(),
                                   "gauge": {"inFlight": {"1": 1}, "draining": True,
                                             "at": 121.0}})
    assert rec.window(0).requests == 4 and rec.window(1).total("dropped") == 10
    assert not rec.drained()                 # each worker still has one in flight
    snap = rec.snapshot(1)
    assert snap["inFlight"] == 2 and snap["inFlightAgeS"] == pytest.approx(1.0)
    rec.write(tmp_path / "locust")
    back, note = read_record(tmp_path / "locust")
    assert note is None and back.mode == "rate" and back.arrival == "poisson"
    assert back.window_meta(1)["name"] == "spike" and back.window_meta(1)["plannedRps"] == 80
    assert back.duration_s(0) == pytest.approx(10.0)
    assert back.whole().latency().counts == rec.whole().latency().counts
    assert back.tasks == {"embed_single": "POST /embed [single]"}
    rec.gauges = {"w1": {"inFlight": {}, "draining": True}}
    assert rec.drained()


def test_missing_or_broken_record_is_no_record(tmp_path):
    assert read_record(tmp_path / "locust") == (None, None)
    record_path(tmp_path / "locust").write_text("{not json")
    rec, note = read_record(tmp_path / "locust")
    assert rec is None and "unusable" in note and "CSVs" in note
    record_path(tmp_path / "locust").write_text(json.dumps({"version": 1, "mode": "other"}))
    assert read_record(tmp_path / "locust")[0] is None


def test_rate_and_in_flight_shares_add_up():
    for total, cap, n in [(30, 256, 3), (7, 5, 5), (100.5, 1000, 7)]:
        parts = shares(total, cap, n)
        assert sum(r for r, _ in parts) == pytest.approx(total)
        assert sum(c for _, c in parts) == cap and max(c for _, c in parts) - min(
            c for _, c in parts) <= 1
    per = controls(window=2, total_rps=9, max_in_flight=4, arrival="poisson", workers=3,
                   open_loop=True)
    assert [c.index for c in per] == [0, 1, 2] and all(c.count == 3 for c in per)
    assert Control.from_message(per[1].as_message()) == per[1]


def test_requests_count_for_the_window_they_were_sent_in():
    state = ProcessState()
    state.apply(Control(window=1), now=50.0)
    assert state.window_at(49.0) == 0 and state.window_at(51.0) == 1
    assert state.window_at(None) == 1
    version = state.version
    state.apply(Control(window=1))       # unchanged: nothing new for the engine
    assert state.version == version
