"""`analyze()`: Locust CSVs + thresholds -> the summary.json dict of design.md, and files.

Verdict precedence: Error (results unusable) > Invalid (load generator saturated) > Fail (a
threshold or baseline row failed) > Pass. `reason` is always one sentence.
"""

from __future__ import annotations

from pathlib import Path

from loadgate.analysis import find_breaking_point, latency_drift, windows
from loadgate.gate.csvread import LocustResults, read_results
from loadgate.gate.errors import ResultsUnusable
from loadgate.gate.thresholds import ThresholdsError, baseline_rows, capacity_rows, evaluate

GENERATOR_CPU_LIMIT = 90.0


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _summary_block(res: LocustResults) -> dict:
    t = res.total
    history = res.history or []
    duration = (history[-1].t - history[0].t) if len(history) > 1 else (
        t.requests / t.rps if t.rps else 0.0)
    return {"requests": t.requests, "failures": t.failures,
            "errorRate": round(t.failures / t.requests, 6), "rps": round(t.rps, 3),
            "p50Ms": t.p50_ms, "p95Ms": t.p95_ms, "p99Ms": t.p99_ms,
            "avgMs": round(t.avg_ms, 2),
            "maxUsers": max((p.users for p in history), default=0),
            "durationS": round(duration, 1)}


def _endpoints(res: LocustResults) -> list[dict]:
    return [{"method": e.method, "name": e.name, "requests": e.requests,
             "failures": e.failures, "rps": round(e.rps, 3), "p50Ms": e.p50_ms,
             "p95Ms": e.p95_ms, "p99Ms": e.p99_ms,
             "errorRate": round(e.failures / e.requests, 6) if e.requests else 0.0}
            for e in res.endpoints]


def _error_summary(name: str, reason: str, generator: dict | None) -> dict:
    return {"name": name, "verdict": "Error", "reason": reason, "summary": {},
            "endpoints": [], "thresholds": [],
            "breakingPoint": {"found": False, "reason": "results unusable"},
            "generator": generator or {}}


def _verdict(rows: list[dict], generator: dict, s: dict,
             capacity_bp: dict | None = None) -> tuple[str, str]:
    cpu = generator.get("maxCpuPercent")
    if isinstance(cpu, int | float) and cpu > GENERATOR_CPU_LIMIT:
        return "Invalid", (f"The load generator's CPU peaked at {cpu:.0f}% (over "
                           f"{GENERATOR_CPU_LIMIT:.0f}%), so the numbers describe the "
                           "generator, not the target.")
    failed = [r for r in rows if not r["passed"]]
    if failed:
        parts = [f"{r['metric']} {_fmt(r['observed'])} "
                 f"{'>' if r['kind'] == 'max' else '<'} {_fmt(r['limit'])}"
                 if r["observed"] is not None else f"{r['metric']} was never measured"
                 for r in failed]
        return "Fail", f"{len(failed)} of {len(rows)} thresholds failed: {'; '.join(parts)}."
    measured = (f"p95 {_fmt(s['p95Ms'])} ms, {s['errorRate']:.2%} errors, "
                f"{_fmt(s['rps'])} req/s over {s['requests']} requests")
    if capacity_bp is not None:
        measured = (f"capacity {_fmt(capacity_bp.get('rps'))} req/s within the SLO of "
                    f"p95 {_fmt((capacity_bp.get('slo') or {}).get('p95Ms'))} ms")
    if not rows:
        return "Pass", f"No thresholds were set; the run is usable ({measured})."
    plural = "s" if len(rows) > 1 else ""
    return "Pass", f"All {len(rows)} threshold{plural} met ({measured})."


def analyze(name, csv_prefix, thresholds, *, baseline=None, max_regression_pct=None,
            generator=None, out_dir=None, capacity_search=False) -> dict:
    """The summary.json dict for one run; never raises for bad results (verdict Error).

    capacity_search: the run was a breakpoint search (spec.load.breakpoint), which breaks the
    SLO on purpose; its gate is the capacity found (see thresholds.capacity_rows)."""
    name = name or Path(str(csv_prefix)).parent.name or "loadtest"
    generator = dict(generator or {})
    try:
        res = read_results(csv_prefix)
    except ResultsUnusable as e:
        summary = _error_summary(name, str(e), generator)
        if out_dir is not None:
            from loadgate.gate.report import write_reports
            write_reports(summary, out_dir)
        return summary

    s = _summary_block(res)
    endpoints = _endpoints(res)
    notes = list(res.notes)
    ws = windows(res.history, res.history_windowed) if res.history else []
    if res.history:
        bp = find_breaking_point(ws, thresholds.p95_ms, thresholds.max_error_rate)
    else:
        bp = {"found": False, "users": 0, "rps": 0.0, "p95Ms": 0.0, "atS": None,
              "reason": "no stats history file, so no breaking point was computed"}
    try:
        if capacity_search:
            rows = capacity_rows(thresholds, bp, baseline, max_regression_pct)
        else:
            rows = evaluate(thresholds, s, endpoints)
            if baseline is not None:
                rows += baseline_rows(baseline, s, max_regression_pct)
    except ThresholdsError as e:
        summary = _error_summary(name, f"The thresholds cannot be used: {e}.", generator)
        if out_dir is not None:
            from loadgate.gate.report import write_reports
            write_reports(summary, out_dir)
        return summary
    cpu = generator.get("maxCpuPercent")
    if isinstance(cpu, int | float) and not isinstance(cpu, bool):
        rows.append({"metric": "generator.maxCpuPercent", "limit": GENERATOR_CPU_LIMIT,
                     "observed": cpu, "passed": cpu <= GENERATOR_CPU_LIMIT, "kind": "max"})

    verdict, reason = _verdict(rows, generator, s, bp if capacity_search else None)
    summary = {
        "name": name, "verdict": verdict, "reason": reason, "summary": s,
        "endpoints": endpoints, "thresholds": rows,
        "breakingPoint": {k: v for k, v in bp.items() if k != "windows"},
        "generator": generator,
        "windows": bp.get("windows", []),
        "failures": sorted(res.failures, key=lambda f: -f["occurrences"])[:10],
        "exceptions": res.exceptions,
        "historyPercentiles": "window10s" if res.history_windowed else "cumulative",
        "gate": "capacity" if capacity_search else "thresholds",
    }
    if res.history:
        drift = latency_drift(res.history, res.history_windowed)
        if drift:
            summary["drift"] = drift
    if notes:
        summary["notes"] = notes
    if out_dir is not None:
        from loadgate.gate.report import write_reports
        write_reports(summary, out_dir, history=res.history, windowed=res.history_windowed)
    return summary
