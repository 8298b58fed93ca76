"""Rate loads (open loop) end to end: `loadgate run` with Locust master + workers over loopback.

- a rate breakpoint against support.known_capacity (one request at a time, 20 ms: exactly
  50 req/s) finds the capacity within 10%, stops early, and shows latency near the service
  time below capacity and growing above it;
- rate stages around that capacity with a small maxInFlight: drops counted (not delayed),
  per-stage threshold rows judged on each stage's requests only;
- coordinated omission shown: support.stalling answers in ~10 ms but stalls every request
  for 5 s twice in 30 s. Open loop at 10 req/s sends all ~300 requests and a third of them
  wait; 10 closed-loop users at about the same nominal rate send fewer and under-count the
  waiting. Both runs go side by side (they are light), ~40 s in all.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
from support import known_capacity, stalling
from support.loadtests import write_loadtest
from support.locust_runs import loadgate_run, summary_of

from loadgate.loadgen.latency_record import read_record

pytestmark = pytest.mark.slow
CAPACITY = 50.0  # known_capacity at 20 ms


def run(tmp_path: Path, name: str, url: str, load: dict, *extra: str, timeout: float = 150,
        **spec) -> tuple[int, dict, str]:
    f = write_loadtest(tmp_path, name, url=url, load=load,
                       **{"workers": 1, "scenario": {"weights": {"single": 1}}, **spec})
    out = tmp_path / name
    r = loadgate_run(str(f), "--out", str(out), *extra, cwd=tmp_path, timeout=timeout)
    return r.returncode, summary_of(out), r.stdout


def test_rate_breakpoint_finds_the_known_capacity(tmp_path):
    """Offered 40, 45, ... req/s in 8 s steps; two workers share each rate. Above capacity
    the queue grows by (rate - 50)/s: at 55 req/s p95 ~0.75 s by the step's end, well over
    the 400 ms SLO, while a stall of the shared machine below capacity stays under it."""
    with known_capacity.running(service_ms=20) as url:
        code, s, stdout = run(
            tmp_path, "rate-bp", url,
            {"breakpoint": {"startRps": 40, "stepRps": 5, "stepDuration": "8s", "maxRps": 80,
                            "maxInFlight": 64}, "stopTimeout": "3s"},
            workers=2, thresholds={"p95Ms": 400, "maxErrorRate": 0.01,
                                   "maxDroppedRate": 0.01, "minRps": 40})
    bp = s["breakingPoint"]
    assert code == 0 and s["verdict"] == "Pass", s["reason"]   # capacity >= minRps 40
    assert s["gate"] == "capacity" and bp["unit"] == "rps" and bp["found"], bp
    assert abs(bp["rps"] - CAPACITY) <= 0.1 * CAPACITY, (bp, s["windows"])
    assert bp["brokeAtRps"] > bp["rps"]
    assert "SLO broken for the whole step at" in (tmp_path / "rate-bp" / "locust.log").read_text()
    ws = s["windows"]
    assert [w["plannedRps"] for w in ws][:3] == [40, 45, 50]
    assert ws[-1]["plannedRps"] < 80  # stopped early, far from maxRps
    below = [w for w in ws if w["plannedRps"] <= 0.8 * CAPACITY]
    above = [w for w in ws if w["plannedRps"] >= 1.1 * CAPACITY]
    assert below and above, ws
    for w in below:  # no queue: latency near the 20 ms service time, nothing dropped
        assert w["p50Ms"] < 60 and w["dropped"] == 0, w
        assert abs(w["offeredRps"] - w["plannedRps"]) <= 0.15 * w["plannedRps"], w
    for w in above:  # the queue grows through the step: latency far above the service time,
        assert w["p50Ms"] > 5 * 20 and w["rps"] <= 1.1 * CAPACITY, w   # throughput capped
        assert w["p95Ms"] > max(b["p95Ms"] for b in below), w
    assert s["summary"]["latencySource"] == "histogram" and s["summary"]["openLoop"]
    rec, _ = read_record(tmp_path / "rate-bp" / "locust")
    assert rec.mode == "rate" and rec.whole().requests == s["summary"]["requests"]
    assert (tmp_path / "rate-bp" / "timeline.png").stat().st_size > 10_000


def test_rate_stages_drop_what_max_in_flight_refuses_and_judge_each_stage(tmp_path):
    """Poisson arrivals at 10 req/s, then 100 req/s against 50 req/s of capacity with 8
    requests in flight at most: the second stage drops about half, and its latency stays
    bounded by the cap."""
    stages = [{"duration": "5s", "rps": 10, "name": "below", "thresholds": {"p95Ms": 100}},
              {"duration": "6s", "rps": 100, "name": "above",
               "thresholds": {"p95Ms": 100, "maxDroppedRate": 0.05}}]
    with known_capacity.running(service_ms=20) as url:
        code, s, stdout = run(tmp_path, "rate-stages", url,
                              {"rateStages": stages, "arrival": "poisson", "maxInFlight": 8,
                               "stopTimeout": "3s"},
                              thresholds={"maxErrorRate": 0.01})
    rows = {r["metric"]: r for r in s["thresholds"]}
    assert code == 1 and s["verdict"] == "Fail", s["reason"]
    assert rows["errorRate"]["passed"] and rows["stages.below.p95Ms"]["passed"]
    assert not rows["stages.above.p95Ms"]["passed"]
    assert not rows["stages.above.droppedRate"]["passed"]
    below, above = s["windows"]
    assert (below["name"], above["name"]) == ("below", "above")
    assert below["dropped"] == 0 and below["p50Ms"] < 40 and below["p95Ms"] < 100
    assert 0.65 * 10 <= below["offeredRps"] <= 1.35 * 10, below   # Poisson: ~50 in 5 s
    assert 0.3 <= above["droppedRate"] <= 0.7, above
    assert above["dropped"] + above["requests"] + above["unfinished"] == above["scheduled"]
    assert 40 <= above["rps"] <= 55, above                  # the server's capacity
    assert above["p95Ms"] <= 8 * 20 * 1.5, above            # bounded by maxInFlight x 20 ms
    summary = s["summary"]
    assert summary["dropped"] == below["dropped"] + above["dropped"] > 0
    assert summary["offeredRps"] > summary["achievedRps"]
    (ep,) = s["endpoints"]
    assert ep["name"] == "/embed [single]" and ep["dropped"] == summary["dropped"]
    assert "open loop" in stdout and "dropped" in stdout


def test_coordinated_omission_open_loop_counts_the_waiting(tmp_path):
    """The same stalling server, 30 s each: open loop at 10 req/s vs 10 closed-loop users
    (0.5-1.5 s think time: ~10 req/s nominal), run side by side."""
    loads = {"open": {"rate": {"rps": 10, "duration": "30s"}, "stopTimeout": "3s"},
             "closed": {"users": 10, "spawnRate": 10, "runTime": "30s", "stopTimeout": "3s"}}

    def one(name: str):
        with stalling.running() as url:
            return run(tmp_path, name, url, loads[name])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = dict(zip(loads, pool.map(one, loads), strict=True))
    (_, opened, _), (_, closed, _) = results["open"], results["closed"]
    o, c = opened["summary"], closed["summary"]
    print(f"open loop:   {o['requests']} requests, mean {o['avgMs']:.0f} ms, "
          f"p95 {o['p95Ms']:.0f} ms, dropped {o['dropped']}")
    print(f"closed loop: {c['requests']} requests, mean {c['avgMs']:.0f} ms, "
          f"p95 {c['p95Ms']:.0f} ms")
    assert opened["verdict"] == closed["verdict"] == "Pass"  # no thresholds: usable runs
    # open loop: every scheduled request went out, a third of them waited in a stall
    assert 285 <= o["scheduled"] <= 305 and o["dropped"] == 0 and o["unfinished"] == 0
    assert o["requests"] == o["scheduled"]
    assert o["avgMs"] >= 600 and o["p95Ms"] >= 3500
    rec, _ = read_record(tmp_path / "open" / "locust")
    waited = rec.whole().latency().count_above_ms(1000)
    assert 0.2 * o["requests"] <= waited <= 0.45 * o["requests"], waited
    # closed loop: the users waited instead of sending, so fewer requests (~210) and a mean
    # about half of what clients arriving at that rate experienced
    assert c["requests"] <= 0.85 * o["requests"]
    assert c["avgMs"] <= 0.75 * o["avgMs"]
