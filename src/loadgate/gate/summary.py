"""Results -> verdict: the one place a run's summary.json is assembled. Pure: reads no file.

`summarize(lt, results, facts)` is a run of a LoadTest: `loadgate run` and the Kubernetes
collector call it with the same LoadTest and results and get the same summary, but for `run`
(where and how the load ran). It derives the gate's inputs from the LoadTest in one place:
capacity gate for capacity searches, the regression limit from spec.baseline, the generator's
CPU from its record. `judge(...)` is the verdict on bare CSVs with explicit limits
(`loadgate gate`), and the core of `summarize`.

Verdict precedence: Error (results unusable) > Invalid (load generator saturated: its CPU,
or for rate loads its lateness starting requests) > Fail (a threshold or baseline row failed)
> Pass. An interrupted run is never a Pass (Error, or Fail when a limit was already broken).
`reason` is always one sentence.

Latency percentiles come from the run's latency record (histograms, exact) when it has one,
else from Locust's CSVs (gate/latency.py); rate loads are analysed on the record's windows
(offered, achieved, dropped; breaking point by rate), closed-loop loads on the history.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgate.analysis import (
    find_breaking_point,
    find_rate_breaking_point,
    latency_drift,
    record_windows,
    windows,
    with_record_percentiles,
)
from loadgate.gate import latency
from loadgate.gate.csvread import LocustResults
from loadgate.gate.results import RunResults
from loadgate.gate.thresholds import baseline_rows, capacity_rows, evaluate, stage_rows
from loadgate.loadgen.protocols import RATE_LIMITED_PREFIX
from loadgate.numbers import fmt
from loadgate.spec import LoadTest, Thresholds

GENERATOR_CPU_LIMIT = 90.0
# A rate load's requests start late by the generator's own lateness, which then counts as the
# target's latency: when 1 in 20 started later than this share of the p95 limit (at least
# GENERATOR_LAG_MIN_MS), the p95 describes the generator. (A shared machine's scheduling
# hiccups show in the p99 of the lateness, reported beside it, without deciding anything.)
GENERATOR_LAG_SHARE = 0.2
GENERATOR_LAG_MIN_MS = 50.0


@dataclass(frozen=True)
class RunFacts:
    """Where and how the load ran (the summary's `run`): what only the runner knows."""

    where: str                          # "local" | "kubernetes"
    duration_s: float | None = None
    interrupted: bool = False           # stopped by a signal: the results cover part of the plan
    deadline_hit: bool = False
    workers_lost: bool = False
    locust_exit_code: int | None = None

    def notes(self) -> list[str]:
        out = []
        if self.interrupted:
            out.append(f"The run was stopped by a signal after {self.duration_s or 0:.0f}s; "
                       "the results cover the load sent until then.")
        if self.deadline_hit:
            out.append("The run passed its time limit and was stopped.")
        return out

    def as_json(self, lt: LoadTest) -> dict:
        run = {"where": self.where, "targetUrl": lt.target.url, "mode": lt.load.mode,
               "interrupted": self.interrupted, "deadlineHit": self.deadline_hit,
               "workersLost": self.workers_lost, "durationS": self.duration_s,
               "locustExitCode": self.locust_exit_code}
        return {k: v for k, v in run.items() if v is not None}


def error_summary(name: str, reason: str, *, generator: dict | None = None,
                  breaking_reason: str = "results unusable", verdict: str = "Error") -> dict:
    """The summary of a run that reached no verdict: Error (or Invalid: the LoadTest could not
    run), with the one sentence why."""
    return {"name": name, "verdict": verdict, "reason": reason, "summary": {},
            "endpoints": [], "thresholds": [],
            "breakingPoint": {"found": False, "reason": breaking_reason},
            "generator": generator or {}}


def baseline_problem(doc) -> str | None:
    """Why a previous run's summary cannot be a baseline (None: it can). Completes
    "the baseline ... " in a sentence."""
    if not isinstance(doc, dict) or not isinstance(doc.get("summary"), dict):
        return "is not a loadgate summary.json (no 'summary' object)"
    if doc.get("verdict") == "Error" or not doc["summary"]:
        return "is from a run whose results were unusable"
    return None


def summarize(lt: LoadTest, results: RunResults, facts: RunFacts, *,
              baseline: dict | None = None) -> dict:
    """The whole summary.json of one run of `lt`."""
    generator = {"maxCpuPercent": None, "workers": lt.workers, **results.generator}
    summary = judge(lt.name, results, lt.thresholds, capacity_search=lt.load.capacity_search,
                    baseline=baseline,
                    max_regression_pct=lt.baseline.max_regression_pct if lt.baseline else None,
                    generator=generator, plan=lt.load.windows(), open_loop=lt.load.open_loop)
    if facts.interrupted:
        _interrupted(summary, facts, lt.load.duration_s)
    notes = [*summary.pop("notes", []), *facts.notes()]
    if lt.scenario.chat and "ttftP95Ms" not in summary["summary"] and \
            summary["verdict"] != "Error":
        notes.append("The latency record (locust_latency.json) holds no successful chat "
                     "request, so TTFT, inter-token latency and tokens were not measured.")
    summary["run"] = facts.as_json(lt)
    if notes:
        summary["notes"] = notes
    return summary


def _interrupted(summary: dict, facts: RunFacts, planned_s: float) -> None:
    """An interrupted run covers part of its plan: it is never a Pass (a CI `timeout` around
    `loadgate run` must not pass the gate). Pass becomes Error; a Fail stays a Fail (a limit
    was already broken); Error and Invalid keep their own reason."""
    if summary["verdict"] not in ("Pass", "Fail"):
        return
    was = summary["reason"].rstrip(".")
    was = was[:1].lower() + was[1:]
    stopped = (f"The run was interrupted after {facts.duration_s or 0:.0f}s of its "
               f"{planned_s:.0f}s plan")
    if summary["verdict"] == "Pass":
        summary["verdict"] = "Error"
        summary["reason"] = (f"{stopped}, so it cannot pass: an interrupted run is never a "
                             f"Pass (until then: {was}).")
    else:
        summary["reason"] = f"{stopped} and had already failed: {was}."


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
            "durationS": round(duration, 1), "rateLimited": _rate_limited(res.failures)}


def _rate_limited(failures: list[dict]) -> int:
    """Requests refused with 429/503 (the protocols' own failure kind for them)."""
    return sum(f["occurrences"] for f in failures if RATE_LIMITED_PREFIX in f["error"])


def _endpoints(res: LocustResults) -> list[dict]:
    return [{"method": e.method, "name": e.name, "requests": e.requests,
             "failures": e.failures, "rps": round(e.rps, 3), "p50Ms": e.p50_ms,
             "p95Ms": e.p95_ms, "p99Ms": e.p99_ms,
             "errorRate": round(e.failures / e.requests, 6) if e.requests else 0.0}
            for e in res.endpoints]


def _verdict(rows: list[dict], generator: dict, s: dict,
             capacity_bp: dict | None = None) -> tuple[str, str]:
    cpu = generator.get("maxCpuPercent")
    if isinstance(cpu, int | float) and cpu > GENERATOR_CPU_LIMIT:
        return "Invalid", (f"The load generator's CPU peaked at {cpu:.0f}% (over "
                           f"{GENERATOR_CPU_LIMIT:.0f}%), so the numbers describe the "
                           "generator, not the target.")
    late = next((r for r in rows if r["metric"] == "generator.scheduleLagP95Ms"
                 and not r["passed"]), None)
    if late is not None:
        return "Invalid", (f"The load generator started 5% of its requests more than "
                           f"{fmt(late['observed'])} ms late (over {fmt(late['limit'])} ms), "
                           "so the latencies describe the generator, not the target.")
    failed = [r for r in rows if not r["passed"]]
    if failed:
        parts = [f"{r['metric']} {fmt(r['observed'])} "
                 f"{'>' if r['kind'] == 'max' else '<'} {fmt(r['limit'])}"
                 if r["observed"] is not None else f"{r['metric']} was never measured"
                 for r in failed]
        return "Fail", f"{len(failed)} of {len(rows)} thresholds failed: {'; '.join(parts)}."
    measured = (f"p95 {fmt(s['p95Ms'])} ms, {s['errorRate']:.2%} errors, "
                f"{fmt(s['rps'])} req/s over {s['requests']} requests")
    if capacity_bp is not None:
        slo = capacity_bp.get("slo") or {}
        limit = (f"TTFT p95 {fmt(slo['ttftP95Ms'])} ms" if "ttftP95Ms" in slo
                 else f"p95 {fmt(slo.get('p95Ms'))} ms")
        measured = f"capacity {fmt(capacity_bp.get('rps'))} req/s within the SLO of {limit}"
    if not rows:
        return "Pass", f"No thresholds were set; the run is usable ({measured})."
    plural = "s" if len(rows) > 1 else ""
    return "Pass", f"All {len(rows)} threshold{plural} met ({measured})."


def _latency_record(results: RunResults, s: dict, notes: list[str]):
    """The run's latency record if it can replace Locust's percentiles, else None."""
    record = results.latency
    if results.latency_note:
        notes.append(results.latency_note)
    if record is not None and (why := latency.usable(record, s["requests"])):
        notes.append(why[0].upper() + why[1:] + ".")
        record = None
    return record


def _breaking_point(res: LocustResults, record, thresholds: Thresholds,
                    open_loop: bool) -> tuple[dict, dict]:
    """(breakingPoint, the record's measured windows by plan index). A run whose record holds
    chat requests is judged on TTFT (analysis.breaking_point.slo_limits)."""
    t0 = res.history[0].t if res.history else None
    measured = {w.index: w for w in record_windows(record, t0)} if record is not None else {}
    chat = {"ttft_p95_limit_ms": thresholds.ttft_p95_ms,
            "chat": record is not None and bool(record.whole().chat)}
    if record is not None and record.mode == "rate":
        bp = find_rate_breaking_point(list(measured.values()), thresholds.p95_ms, thresholds.max_error_rate,
                                      thresholds.max_dropped_rate, **chat)
    elif open_loop:
        bp = {"found": False, "unit": "rps", "rps": 0.0, "p95Ms": 0.0, "atS": None,
              "reason": "no latency record, so no breaking point by rate was computed"}
    elif res.history:
        ws = windows(res.history, res.history_windowed)
        if record is not None:
            ws = with_record_percentiles(ws, record, t0, measured)
        bp = find_breaking_point(ws, thresholds.p95_ms, thresholds.max_error_rate, **chat)
    else:
        bp = {"found": False, "unit": "users", "users": 0, "rps": 0.0, "p95Ms": 0.0,
              "atS": None, "reason": "no stats history file, so no breaking point was computed"}
    return bp, measured


def _generator_rows(generator: dict, thresholds: Thresholds) -> list[dict]:
    rows = []
    cpu = generator.get("maxCpuPercent")
    if isinstance(cpu, int | float) and not isinstance(cpu, bool):
        rows.append({"metric": "generator.maxCpuPercent", "limit": GENERATOR_CPU_LIMIT,
                     "observed": cpu, "passed": cpu <= GENERATOR_CPU_LIMIT, "kind": "max"})
    lag = generator.get("scheduleLagP95Ms")
    if isinstance(lag, int | float) and not isinstance(lag, bool):
        from loadgate.analysis.breaking_point import DEFAULT_P95_MS

        limit = max(GENERATOR_LAG_MIN_MS,
                    GENERATOR_LAG_SHARE * (thresholds.p95_ms or DEFAULT_P95_MS))
        rows.append({"metric": "generator.scheduleLagP95Ms", "limit": limit, "observed": lag,
                     "passed": lag <= limit, "kind": "max"})
    return rows


def judge(name: str, results: RunResults, thresholds: Thresholds, *,
          capacity_search: bool = False, baseline: dict | None = None,
          max_regression_pct: float | None = None, generator: dict | None = None,
          plan=(), open_loop: bool = False) -> dict:
    """The summary.json dict for one set of results; never raises for bad results.

    capacity_search: the run was a capacity search (spec.load.breakpoint), which breaks the
    SLO on purpose; its gate is the capacity found (see thresholds.capacity_rows).
    plan: the LoadTest's plan windows (spec `Load.windows()`): stages with their own
    thresholds get rows `stages.<name>.<key>`. open_loop: a rate load."""
    generator = dict(generator or {})
    res = results.locust
    if res is None:
        return error_summary(name, results.unusable, generator=generator)
    if baseline is not None and (problem := baseline_problem(baseline)):
        return error_summary(name, f"The baseline cannot be used: it {problem}.",
                             generator=generator)

    s = _summary_block(res)
    endpoints = _endpoints(res)
    notes = list(res.notes)
    record = _latency_record(results, s, notes)
    if record is not None:
        s.update(latency.summary_figures(record))
        latency.update_endpoints(endpoints, record)
        generator.update(latency.generator_figures(record))
    else:
        s["latencySource"] = "csv"
    bp, measured = _breaking_point(res, record, thresholds, open_loop)
    if capacity_search:
        rows = capacity_rows(thresholds, bp, baseline, max_regression_pct)
    else:
        rows = evaluate(thresholds, s, endpoints) + stage_rows(plan, measured)
        if baseline is not None:
            rows += baseline_rows(baseline, s, max_regression_pct)
    rows += _generator_rows(generator, thresholds)

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
    return summary
