"""Thresholds and baseline regression, evaluated into rows of summary.json's `thresholds`.

Thresholds are `loadgate.spec.Thresholds`; which figure each limits and which way comes from
the one table `loadgate.spec.THRESHOLD_KEYS`.
"""

from __future__ import annotations

from loadgate.spec import THRESHOLD_KEYS, Baseline, Thresholds

DEFAULT_MAX_REGRESSION_PCT = Baseline.max_regression_pct
# what a baseline comparison looks at: a summary figure and which way is worse
BASELINE_METRICS = (("p95Ms", "max"), ("p99Ms", "max"), ("rps", "min"))


def _row(metric: str, limit: float, observed: float | None, kind: str, **extra) -> dict:
    if observed is None:
        passed = False  # a limit on something that was never measured cannot pass
    else:
        passed = observed <= limit if kind == "max" else observed >= limit
    return {"metric": metric, "limit": limit, "observed": observed, "passed": passed,
            "kind": kind, **extra}


def _metric_rows(th: Thresholds, observed: dict | None, prefix: str = "", **extra) -> list[dict]:
    rows = []
    for k in THRESHOLD_KEYS:
        limit = getattr(th, k.field)
        if limit is not None:
            value = observed.get(k.metric) if observed else None
            rows.append(_row(prefix + k.metric, float(limit), value, k.kind, **extra))
    return rows


def evaluate(thresholds: Thresholds, summary: dict, endpoints: list[dict]) -> list[dict]:
    """Rows for the overall thresholds, then one set per endpoint named in `endpoints`."""
    rows = _metric_rows(thresholds, summary)
    by_name = {e["name"]: e for e in endpoints}
    for name, th in thresholds.endpoints.items():
        rows += _metric_rows(th, by_name.get(name), prefix=f"{name}.", endpoint=name)
    return rows


def _pct(max_regression_pct: float | None) -> float:
    return DEFAULT_MAX_REGRESSION_PCT if max_regression_pct is None else float(max_regression_pct)


def baseline_rows(baseline: dict, summary: dict, max_regression_pct: float | None) -> list[dict]:
    """p95/p99 rising or rps falling more than N% against a previous summary -> failing rows.
    `baseline` passed summary.baseline_problem (a summary.json with its 'summary' object)."""
    pct = _pct(max_regression_pct)
    base = baseline["summary"]
    rows = []
    for metric, kind in BASELINE_METRICS:
        ref = base.get(metric)
        if isinstance(ref, bool) or not isinstance(ref, int | float) or ref <= 0:
            continue  # nothing to compare against
        limit = ref * (1 + pct / 100) if kind == "max" else ref * (1 - pct / 100)
        rows.append(_row(f"baseline.{metric}", round(limit, 3), summary.get(metric), kind,
                         baseline=ref, maxRegressionPct=pct))
    return rows


def capacity_rows(thresholds: Thresholds, breaking_point: dict, baseline: dict | None = None,
                  max_regression_pct: float | None = None) -> list[dict]:
    """The gate of a breakpoint (capacity-search) run.

    Such a run pushes past the SLO on purpose, so whole-run p95/p99/error rows would fail by
    construction; p95Ms and maxErrorRate are the SLO the breaking point is measured against, and
    the gate is the capacity: breakingPoint.rps >= minRps (and, with a baseline, not more than
    N% below the baseline's capacity)."""
    capacity = breaking_point.get("rps")
    rows = []
    if thresholds.min_rps is not None:
        rows.append(_row("breakingPoint.rps", float(thresholds.min_rps), capacity, "min"))
    if baseline is not None:
        pct = _pct(max_regression_pct)
        ref = (baseline.get("breakingPoint") or {}).get("rps") if isinstance(baseline, dict) else None
        if isinstance(ref, int | float) and not isinstance(ref, bool) and ref > 0:
            rows.append(_row("baseline.breakingPoint.rps", round(ref * (1 - pct / 100), 3),
                             capacity, "min", baseline=ref, maxRegressionPct=pct))
    return rows


def stage_rows(plan, measured: dict) -> list[dict]:
    """Rows `stages.<name>.<key>` for each plan window (stage) that has its own thresholds,
    judged on that window's requests only: `measured` maps window index to its Window
    (analysis.record_windows). A stage that was never measured fails its rows."""
    rows = []
    for pw in plan:
        if pw.thresholds is None:
            continue
        w = measured.get(pw.index)
        observed = None if w is None else {"droppedRate": 0.0, **w.to_json()}
        rows += _metric_rows(pw.thresholds, observed, prefix=f"stages.{pw.label}.",
                             stage=pw.label)
    return rows
