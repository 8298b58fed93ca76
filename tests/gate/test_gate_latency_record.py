"""The gate with a latency record beside the CSVs: exact percentiles win over Locust's rounded
ones, rate loads get offered/achieved/dropped and a breaking point by rate, stages their own
rows, a late generator makes the run Invalid; without a usable record the CSVs stay.

The CSVs are the session's real result set (a plain locustfile, so no record of its own); the
records are written here with the same request counts, as the master would have merged them.
"""

from __future__ import annotations

import pytest
from support.crd import validator
from support.loadtests import loadtest

from loadgate.gate import analyze
from loadgate.gate.csvread import read_results
from loadgate.gate.results import read_run
from loadgate.gate.summary import RunFacts, judge, summarize
from loadgate.loadgen.latency_record import Record, record_path
from loadgate.spec import Thresholds


def write_record(prefix: str, windows: list[dict], *, mode: str = "users", plan=()) -> Record:
    """A record holding every request of the CSVs, spread over `windows`: each takes a
    `share` of each endpoint's requests at latencies [(fraction, ms), ...]; rate windows
    also say what was scheduled, dropped, answered, and how late the generator was."""
    res = read_results(prefix)
    t0, t1 = res.history[0].t, res.history[-1].t
    rec = Record(mode=mode, arrival="constant" if mode == "rate" else None,
                 max_in_flight=64 if mode == "rate" else None, plan=plan)
    span = (t1 - t0) / len(windows)
    left = {(e.method, e.name): e.requests for e in res.endpoints}
    for i, w in enumerate(windows):
        rec.begin_window(i, now=t0 + i * span)
        wd = rec.window(i)
        for e in res.endpoints:
            n = left[(e.method, e.name)] if i == len(windows) - 1 else \
                int(e.requests * w["share"])
            left[(e.method, e.name)] -= n
            cell = wd.cell(e.method, e.name)
            cell.requests, cell.failures = n, int(e.failures * n / max(e.requests, 1))
            done = 0
            for j, (fraction, ms) in enumerate(w["latencies"]):
                k = n - done if j == len(w["latencies"]) - 1 else int(n * fraction)
                cell.latency.record_ms(ms, n=k) if k else None
                done += k
        if mode == "rate":
            scheduled = int(wd.requests / (1 - w.get("dropped", 0.0)))
            for j in range(scheduled):
                wd.scheduled_at("embed_single", t0 + i * span + j * 0.01,
                                dropped=j >= wd.requests)
            wd.answered = wd.requests
            wd.lag.record_ms(w.get("lag_ms", 2.0), n=max(wd.requests, 1))
        rec.meta[i]["plannedRps"] = w.get("planned")
    rec.end(now=t1)
    rec.tasks = {"embed_single": "POST /embed [single]"}
    rec.write(prefix)
    return rec


FAST_AND_504 = [(0.94, 5.0), (0.06, 504.0)]   # p95 is 504 ms: Locust rounds it to 500/510


def test_exact_percentiles_decide_a_504_ms_p95_against_500(csv_copy):
    write_record(csv_copy, [{"share": 1.0, "latencies": FAST_AND_504}])
    s = analyze("real", csv_copy, Thresholds(p95_ms=500))
    assert s["summary"]["latencySource"] == "histogram"
    assert s["summary"]["p95Ms"] == pytest.approx(504, abs=504 * 0.004)
    assert s["summary"]["p50Ms"] == 5.0 and s["verdict"] == "Fail"
    assert s["summary"]["dropped"] == 0 and s["summary"]["droppedRate"] == 0.0  # closed loop
    for e in s["endpoints"]:
        assert e["latencySource"] == "histogram" and e["p50Ms"] == 5.0
    assert all(w.get("latencySource") == "histogram" for w in s["windows"])


def test_a_partial_or_broken_record_leaves_the_csv_percentiles(csv_copy):
    plain = analyze("real", csv_copy, Thresholds())
    rec = write_record(csv_copy, [{"share": 1.0, "latencies": FAST_AND_504}])
    for _, _, cell in rec.window(0).endpoints():   # lose more than 10% of the requests
        cell.requests //= 2
        cell.latency = type(cell.latency)()
        cell.latency.record_ms(5.0, n=cell.requests)
    rec.write(csv_copy)
    s = analyze("real", csv_copy, Thresholds())
    assert s["summary"]["latencySource"] == "csv"
    assert s["summary"]["p95Ms"] == plain["summary"]["p95Ms"]
    assert any("latency record holds" in n for n in s["notes"])
    record_path(csv_copy).write_text('{"version": 1, "mode": "users", "windows": [{}]}')
    s = analyze("real", csv_copy, Thresholds())
    assert s["summary"]["latencySource"] == "csv" and any("unusable" in n for n in s["notes"])


def test_foreign_csvs_cannot_pass_a_drop_limit(csv_copy):
    s = analyze("real", csv_copy, Thresholds(max_dropped_rate=0.5))
    row = next(r for r in s["thresholds"] if r["metric"] == "droppedRate")
    assert row["observed"] is None and not row["passed"] and s["verdict"] == "Fail"


RATE_STEPS = [  # 10 and 20 req/s fine, 30 req/s drops 30% and waits
    {"share": 0.3, "planned": 10.0, "latencies": [(1.0, 20.0)]},
    {"share": 0.4, "planned": 20.0, "latencies": [(1.0, 40.0)]},
    {"share": 0.3, "planned": 30.0, "latencies": [(0.5, 300.0), (0.5, 2500.0)],
     "dropped": 0.3},
]


def test_rate_record_gives_offered_achieved_dropped_and_capacity_by_rate(csv_copy):
    write_record(csv_copy, RATE_STEPS, mode="rate")
    slo = Thresholds(p95_ms=500, max_error_rate=0.5, max_dropped_rate=0.01, min_rps=15)
    s = judge("rate", read_run(csv_copy), slo, capacity_search=True)
    summary, bp = s["summary"], s["breakingPoint"]
    assert summary["openLoop"] and summary["maxUsers"] == 0
    assert summary["scheduled"] == summary["requests"] + summary["dropped"]
    assert 0.05 < summary["droppedRate"] < 0.15 and summary["offeredRps"] > summary[
        "achievedRps"]
    assert bp["unit"] == "rps" and bp["found"] and "users" not in bp
    assert (bp["rps"], bp["brokeAtRps"]) == (20.0, 30.0)
    assert bp["reason"] == "drops over 1.00%" and bp["droppedRate"] == pytest.approx(0.3, 0.05)
    assert [w["plannedRps"] for w in s["windows"]] == [10.0, 20.0, 30.0]
    assert s["windows"][2]["p95Ms"] == pytest.approx(2500, rel=0.005)
    assert s["verdict"] == "Pass" and s["thresholds"][0]["metric"] == "breakingPoint.rps"
    (single,) = [e for e in s["endpoints"] if e["name"] == "/embed [single]"]
    assert single["dropped"] == summary["dropped"] and single["scheduled"] > single["requests"]
    others = [e for e in s["endpoints"] if e["name"] != "/embed [single]"]
    assert all(e["dropped"] == 0 for e in others)  # no task of theirs was dropped
    s = judge("rate", read_run(csv_copy), Thresholds(p95_ms=500, max_error_rate=0.5,
                                                     min_rps=25), capacity_search=True)
    assert s["verdict"] == "Fail" and "breakingPoint.rps 20 < 25" in s["reason"]


def test_stage_rows_are_judged_on_their_own_requests(csv_copy):
    lt = loadtest("rs", url="http://127.0.0.1:1", load={"rateStages": [
        {"duration": "2s", "rps": 10, "name": "warm", "thresholds": {"p95Ms": 100}},
        {"duration": "2s", "rps": 20},
        {"duration": "2s", "rps": 30, "name": "spike",
         "thresholds": {"p95Ms": 3000, "maxDroppedRate": 0.1}},
        {"duration": "2s", "rps": 5, "name": "never", "thresholds": {"p95Ms": 100}}]},
        thresholds={"maxErrorRate": 0.5})
    write_record(csv_copy, RATE_STEPS, mode="rate", plan=lt.load.windows())
    s = summarize(lt, read_run(csv_copy), RunFacts(where="local"))
    rows = {r["metric"]: r for r in s["thresholds"]}
    assert rows["stages.warm.p95Ms"]["passed"] and rows["stages.warm.p95Ms"]["stage"] == "warm"
    assert rows["stages.spike.p95Ms"]["passed"]   # 2.5 s is within this stage's own 3 s
    assert not rows["stages.spike.droppedRate"]["passed"]
    assert rows["stages.never.p95Ms"]["observed"] is None   # never ran: cannot pass
    assert s["verdict"] == "Fail" and s["gate"] == "thresholds"
    assert [w.get("name") for w in s["windows"]] == ["warm", None, "spike"]
    validator("status").validate({"summary": s["summary"], "thresholds": s["thresholds"],
                                  "breakingPoint": s["breakingPoint"]})


def test_a_late_generator_makes_a_rate_run_invalid(csv_copy):
    steps = [dict(w, lag_ms=400.0) for w in RATE_STEPS]
    write_record(csv_copy, steps, mode="rate")
    s = judge("rate", read_run(csv_copy), Thresholds(p95_ms=500))
    row = next(r for r in s["thresholds"] if r["metric"] == "generator.scheduleLagP95Ms")
    assert row["limit"] == 100 and not row["passed"]
    assert s["verdict"] == "Invalid" and "late" in s["reason"]
    assert s["generator"]["scheduleLagP95Ms"] == pytest.approx(400, rel=0.005)


def test_rate_summary_trimmed_for_the_status_fits_the_crd(csv_copy):
    from loadgate_operator.collect import trim

    lt = loadtest("rb", url="http://127.0.0.1:1", load={"breakpoint": {
        "startRps": 10, "stepRps": 10, "stepDuration": "2s", "maxRps": 30}},
        thresholds={"p95Ms": 500, "maxErrorRate": 0.5, "minRps": 5})
    write_record(csv_copy, RATE_STEPS, mode="rate", plan=lt.load.windows())
    s = summarize(lt, read_run(csv_copy), RunFacts(where="kubernetes"))
    doc = trim(s)
    validator("status").validate({k: doc[k] for k in ("summary", "thresholds",
                                                       "breakingPoint") if k in doc})
    assert doc["breakingPoint"]["unit"] == "rps" and doc["verdict"] == "Pass"
