"""The breaking point of a server whose capacity is known, found from a real stepped run.

known_capacity.py serves one request at a time for 20 ms: 50 req/s, whatever the users.
Each user waits a constant 100 ms between requests, so below the cap throughput grows with
users (~8 req/s each); from ~6 users on it stays at 50 req/s and only latency grows.
"""

from __future__ import annotations

import pytest
from support import known_capacity
from support.locust_runs import run_locust

from loadgate.analysis import find_breaking_point, windows
from loadgate.gate import analyze
from loadgate.gate.csvread import read_results
from loadgate.numbers import fmt
from loadgate.spec import Thresholds

SERVICE_MS = 20
CAPACITY = 1000 / SERVICE_MS

STEPPED = '''
from locust import FastHttpUser, LoadTestShape, constant, task

STEP_S = 3
USERS = [2, 4, 6, 8, 10, 12]

class U(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def embed(self):
        self.client.post("/embed", json={"texts": ["hello"]}, name="/embed [single]")

class Steps(LoadTestShape):
    def tick(self):
        step = int(self.get_run_time() // STEP_S)
        return (USERS[step], 100) if step < len(USERS) else None
'''


@pytest.fixture(scope="module")
def stepped_run(tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("stepped")
    with known_capacity.running(service_ms=SERVICE_MS) as base:
        return run_locust(work, STEPPED, base, timeout=90)


@pytest.mark.slow
def test_breaking_point_within_10_percent_of_known_capacity(stepped_run, tmp_path):
    s = analyze("known", stepped_run, Thresholds(p95_ms=1000, max_error_rate=0.01),
                out_dir=tmp_path)
    bp = s["breakingPoint"]
    assert bp["found"], s["windows"]
    assert abs(bp["rps"] - CAPACITY) <= 0.1 * CAPACITY, (bp, s["windows"])
    assert bp["reason"] == "throughput plateau", bp
    assert 6 <= bp["users"] <= 10, bp  # saturates at ~6 users; seen at the next step or so
    assert bp["atS"] > 0
    # throughput rose with users before the knee
    ws = s["windows"]
    assert ws[0]["rps"] < ws[1]["rps"] < CAPACITY * 1.1
    png = (tmp_path / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "throughput plateau" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_tighter_slo_breaks_on_latency_first(stepped_run):
    """A p95 limit between the unqueued and the queued latency breaks on p95, before the
    throughput plateau the loose SLO reports, and counts only the windows before it."""
    res = read_results(stepped_run)
    assert res.history_windowed  # --csv-full-history: Locust's 10 s window percentiles
    ws = windows(res.history, res.history_windowed)
    assert [w.users for w in ws] == [2, 4, 6, 8, 10, 12]
    loose = find_breaking_point(ws, p95_limit_ms=1000, max_error_rate=0.01)
    assert loose["reason"] == "throughput plateau", loose
    plateau = next(i for i, w in enumerate(ws) if w.users == loose["users"])
    # the server queues by the plateau: its p95 is well above the unqueued first step's
    # (a noisy machine inflates both; the ratio holds)
    assert ws[plateau].p95_ms > 1.5 * ws[0].p95_ms, loose["windows"]
    limit = (ws[0].p95_ms + ws[plateau].p95_ms) / 2
    bp = find_breaking_point(ws, p95_limit_ms=limit, max_error_rate=0.01)
    first = next(i for i, w in enumerate(ws) if w.p95_ms > limit)
    assert bp["found"] and bp["reason"] == f"p95 over {fmt(limit)} ms", bp
    assert 0 < first <= plateau
    assert bp["users"] == ws[first].users and bp["p95Ms"] == ws[first].p95_ms
    assert bp["rps"] == max(w.rps for w in ws[:first]) < CAPACITY * 1.1
