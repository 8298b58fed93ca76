"""Usable real CSVs against thresholds, per-endpoint limits, baseline, generator CPU, reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from loadgate.gate import analyze
from loadgate.gate.report import format_verdict
from loadgate.spec import Thresholds


def test_summary_matches_the_stats_file(csv_copy):
    s = analyze("real", csv_copy, Thresholds())
    assert s["verdict"] == "Pass" and "No thresholds" in s["reason"]
    total = s["summary"]
    assert total["requests"] > 50
    assert total["requests"] == sum(e["requests"] for e in s["endpoints"])
    # ~10% of the traffic hits a missing route: failures are counted, not hidden
    assert 0.02 < total["errorRate"] < 0.3
    missing = next(e for e in s["endpoints"] if e["name"] == "/missing")
    assert missing["errorRate"] == 1.0
    assert total["maxUsers"] == 4 and total["durationS"] > 2
    assert s["failures"] and s["failures"][0]["name"] == "/missing"
    # with the default SLO (1% errors) the 10% failing traffic is the breaking point
    assert s["breakingPoint"]["found"] and s["breakingPoint"]["reason"].startswith("errors")
    json.dumps(s)  # JSON-able


def test_thresholds_pass_and_fail(csv_copy):
    s = analyze("real", csv_copy, Thresholds(p95_ms=5_000, p99_ms=5_000, max_error_rate=0.5,
                                          min_rps=1))
    assert s["verdict"] == "Pass", s["reason"]
    assert [r["metric"] for r in s["thresholds"]] == ["p95Ms", "p99Ms", "errorRate", "rps"]
    assert all(r["passed"] for r in s["thresholds"])

    s = analyze("real", csv_copy, Thresholds(p95_ms=1, max_error_rate=0.001, min_rps=100_000))
    assert s["verdict"] == "Fail"
    failed = {r["metric"] for r in s["thresholds"] if not r["passed"]}
    assert failed == {"p95Ms", "errorRate", "rps"}
    assert s["reason"].startswith("3 of 3 thresholds failed") and "p95Ms" in s["reason"]


def test_per_endpoint_thresholds_have_their_own_rows(csv_copy):
    th = Thresholds(max_error_rate=0.9, endpoints={
        "/embed [single]": Thresholds(p95_ms=5_000, max_error_rate=0.0),
        "/missing": Thresholds(max_error_rate=0.01),
        "/never-called": Thresholds(p95_ms=100),
    })
    s = analyze("real", csv_copy, th)
    rows = {r["metric"]: r for r in s["thresholds"]}
    assert rows["errorRate"]["passed"]
    assert rows["/embed [single].p95Ms"]["passed"] and rows["/embed [single].errorRate"]["passed"]
    assert not rows["/missing.errorRate"]["passed"] and rows["/missing.errorRate"]["observed"] == 1
    # a limit on an endpoint that never ran cannot pass
    assert rows["/never-called.p95Ms"]["observed"] is None
    assert not rows["/never-called.p95Ms"]["passed"]
    assert s["verdict"] == "Fail"


def test_baseline_regression(csv_copy):
    current = analyze("real", csv_copy, Thresholds())
    same = analyze("real", csv_copy, Thresholds(), baseline=current, max_regression_pct=10)
    assert same["verdict"] == "Pass"
    assert {r["metric"] for r in same["thresholds"]} >= {"baseline.p95Ms", "baseline.rps"}

    better = json.loads(json.dumps(current))
    better["summary"]["p95Ms"] = current["summary"]["p95Ms"] / 2  # the old run was faster
    better["summary"]["rps"] = current["summary"]["rps"] * 1.5
    s = analyze("real", csv_copy, Thresholds(), baseline=better, max_regression_pct=10)
    assert s["verdict"] == "Fail"
    failed = {r["metric"]: r for r in s["thresholds"] if not r["passed"]}
    assert set(failed) == {"baseline.p95Ms", "baseline.rps"}
    assert failed["baseline.p95Ms"]["limit"] == round(better["summary"]["p95Ms"] * 1.1, 3)

    # within the allowed regression: a 5% worse baseline with 10% allowed passes
    near = json.loads(json.dumps(current))
    near["summary"]["p95Ms"] = current["summary"]["p95Ms"] / 1.05
    assert analyze("real", csv_copy, Thresholds(), baseline=near,
                   max_regression_pct=10)["verdict"] == "Pass"


def test_generator_saturation_is_invalid_and_precedence(csv_copy):
    s = analyze("real", csv_copy, Thresholds(p95_ms=1), generator={"maxCpuPercent": 97.0,
                                                               "workers": 1})
    assert s["verdict"] == "Invalid"  # Invalid beats Fail
    assert "97%" in s["reason"] and "generator" in s["reason"]
    ok = analyze("real", csv_copy, Thresholds(), generator={"maxCpuPercent": 40.0, "workers": 1})
    assert ok["verdict"] == "Pass" and ok["generator"]["workers"] == 1
    # Error beats Invalid
    import pathlib
    pathlib.Path(csv_copy + "_stats.csv").write_text("")
    err = analyze("real", csv_copy, Thresholds(), generator={"maxCpuPercent": 97.0})
    assert err["verdict"] == "Error"


def test_reports_written(csv_copy, tmp_path):
    th = Thresholds(p95_ms=1, max_error_rate=0.5, endpoints={"/health": Thresholds(p95_ms=5_000)})
    s = analyze("reports", csv_copy, th, out_dir=tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text())["verdict"] == "Fail"

    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(s["thresholds"]) == 3
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["p95Ms"]
    assert root.find("testsuite").get("failures") == "1"
    assert root.find("testsuite").get("tests") == "3"

    md = (tmp_path / "summary.md").read_text()
    assert "**Verdict: FAIL**" in md
    assert "| p95Ms |" in md and "**FAIL**" in md and "| /health.p95Ms |" in md
    assert "### Endpoints" in md and "/embed [single]" in md
    assert "### Breaking point" in md

    png = (tmp_path / "timeline.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

    block = format_verdict(s)
    assert block.splitlines()[0] == "verdict: Fail"
    assert "p95Ms" in block and "FAILED" in block and "breaking point:" in block


def test_capacity_gate_for_breakpoint_runs(csv_copy):
    """A breakpoint search breaks the SLO on purpose: its gate is breakingPoint.rps >= minRps."""
    slo = dict(p95_ms=5_000, max_error_rate=0.5)  # the SLO holds: capacity = the peak window
    peak = analyze("real", csv_copy, Thresholds(**slo), capacity_search=True)["breakingPoint"]["rps"]
    assert peak > 0
    # p99 1 ms would fail a whole-run gate; in a capacity search it is not a gate row
    s = analyze("real", csv_copy, Thresholds(**slo, p99_ms=1, min_rps=peak * 0.5),
                capacity_search=True)
    assert s["verdict"] == "Pass", s["reason"]
    assert s["gate"] == "capacity"
    assert [(r["metric"], r["passed"]) for r in s["thresholds"]] == [("breakingPoint.rps", True)]
    assert "capacity" in s["reason"]

    s = analyze("real", csv_copy, Thresholds(**slo, min_rps=peak * 2), capacity_search=True)
    assert s["verdict"] == "Fail" and "breakingPoint.rps" in s["reason"]

    # against a baseline whose capacity was twice as high: more than 10% lower fails
    base = {"summary": {"rps": 1.0}, "breakingPoint": {"rps": peak * 2}}
    s = analyze("real", csv_copy, Thresholds(**slo), baseline=base, max_regression_pct=10,
                capacity_search=True)
    assert s["verdict"] == "Fail"
    row = s["thresholds"][0]
    assert row["metric"] == "baseline.breakingPoint.rps" and row["limit"] == round(peak * 1.8, 3)
