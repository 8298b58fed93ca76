"""Thresholds and baseline regression, evaluated into rows of summary.json's `thresholds`.

A threshold object is anything with the attributes of `loadgate.spec.Thresholds` (p95_ms,
p99_ms, max_error_rate, min_rps, endpoints) - the spec's own dataclass or `Limits` below,
which the gate CLI builds from a thresholds file when it holds only the thresholds mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# camelCase key in files / summary.json -> attribute name
KEYS = {"p95Ms": "p95_ms", "p99Ms": "p99_ms", "maxErrorRate": "max_error_rate",
        "minRps": "min_rps"}
DEFAULT_MAX_REGRESSION_PCT = 10.0


@dataclass(frozen=True)
class Limits:
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_error_rate: float | None = None
    min_rps: float | None = None
    endpoints: dict[str, Limits] = field(default_factory=dict)


class ThresholdsError(ValueError):
    """A thresholds mapping that cannot be used; str(e) names the field."""


def limits_from_mapping(doc: object, path: str = "thresholds", *,
                        allow_endpoints: bool = True) -> Limits:
    """Build Limits from the `spec.thresholds` mapping (camelCase keys), checking each value."""
    if doc is None:
        return Limits()
    if not isinstance(doc, dict):
        raise ThresholdsError(f"{path}: must be a mapping, got {type(doc).__name__}")
    values: dict[str, object] = {}
    for key, value in doc.items():
        if key == "endpoints" and allow_endpoints:
            if not isinstance(value, dict):
                raise ThresholdsError(f"{path}.endpoints: must be a mapping of endpoint name to "
                                      "thresholds")
            values["endpoints"] = {
                str(name): limits_from_mapping(v, f"{path}.endpoints[{name}]",
                                               allow_endpoints=False)
                for name, v in value.items()}
            continue
        if key not in KEYS:
            allowed = ", ".join([*KEYS, *(["endpoints"] if allow_endpoints else [])])
            raise ThresholdsError(f"{path}.{key}: unknown key (allowed: {allowed})")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value) or value < 0:
            raise ThresholdsError(f"{path}.{key}: must be a number >= 0, got {value!r}")
        if key == "maxErrorRate" and value > 1:
            raise ThresholdsError(f"{path}.{key}: is a fraction between 0 and 1, got {value!r}")
        values[KEYS[key]] = float(value)
    return Limits(**values)


def limit_of(th: object, name: str):
    if th is None:
        return None
    if isinstance(th, dict):  # tolerate a camelCase mapping too
        inverse = {v: k for k, v in KEYS.items()}
        return th.get(inverse.get(name, name), th.get(name))
    return getattr(th, name, None)


def _row(metric: str, limit: float, observed: float | None, kind: str, **extra) -> dict:
    if observed is None:
        passed = False  # a limit on something that was never measured cannot pass
    else:
        passed = observed <= limit if kind == "max" else observed >= limit
    return {"metric": metric, "limit": limit, "observed": observed, "passed": passed,
            "kind": kind, **extra}


def _metric_rows(th: object, observed: dict | None, prefix: str = "", **extra) -> list[dict]:
    rows = []
    for attr, metric, obs_key, kind in (("p95_ms", "p95Ms", "p95Ms", "max"),
                                        ("p99_ms", "p99Ms", "p99Ms", "max"),
                                        ("max_error_rate", "errorRate", "errorRate", "max"),
                                        ("min_rps", "rps", "rps", "min")):
        limit = limit_of(th, attr)
        if limit is not None:
            value = observed.get(obs_key) if observed else None
            rows.append(_row(prefix + metric, float(limit), value, kind, **extra))
    return rows


def evaluate(thresholds: object, summary: dict, endpoints: list[dict]) -> list[dict]:
    """Rows for the overall thresholds, then one set per endpoint named in `endpoints`."""
    rows = _metric_rows(thresholds, summary)
    by_name = {e["name"]: e for e in endpoints}
    for name, th in (limit_of(thresholds, "endpoints") or {}).items():
        rows += _metric_rows(th, by_name.get(name), prefix=f"{name}.", endpoint=name)
    return rows


def baseline_rows(baseline: dict, summary: dict, max_regression_pct: float | None) -> list[dict]:
    """p95/p99 rising or rps falling more than N% against a previous summary -> failing rows."""
    pct = DEFAULT_MAX_REGRESSION_PCT if max_regression_pct is None else float(max_regression_pct)
    base = baseline.get("summary") if isinstance(baseline, dict) else None
    if not isinstance(base, dict):
        raise ThresholdsError("the baseline is not a loadgate summary.json (no 'summary' object)")
    rows = []
    for metric, kind in (("p95Ms", "max"), ("p99Ms", "max"), ("rps", "min")):
        ref = base.get(metric)
        if isinstance(ref, bool) or not isinstance(ref, int | float) or ref <= 0:
            continue  # nothing to compare against
        limit = ref * (1 + pct / 100) if kind == "max" else ref * (1 - pct / 100)
        rows.append(_row(f"baseline.{metric}", round(limit, 3), summary.get(metric), kind,
                         baseline=ref, maxRegressionPct=pct))
    return rows


def capacity_rows(thresholds: object, breaking_point: dict, baseline: dict | None = None,
                  max_regression_pct: float | None = None) -> list[dict]:
    """The gate of a breakpoint (capacity-search) run.

    Such a run pushes past the SLO on purpose, so whole-run p95/p99/error rows would fail by
    construction; p95Ms and maxErrorRate are the SLO the breaking point is measured against, and
    the gate is the capacity: breakingPoint.rps >= minRps (and, with a baseline, not more than
    N% below the baseline's capacity)."""
    capacity = breaking_point.get("rps")
    rows = []
    limit = limit_of(thresholds, "min_rps")
    if limit is not None:
        rows.append(_row("breakingPoint.rps", float(limit), capacity, "min"))
    if baseline is not None:
        pct = DEFAULT_MAX_REGRESSION_PCT if max_regression_pct is None else float(max_regression_pct)
        ref = (baseline.get("breakingPoint") or {}).get("rps") if isinstance(baseline, dict) else None
        if isinstance(ref, int | float) and not isinstance(ref, bool) and ref > 0:
            rows.append(_row("baseline.breakingPoint.rps", round(ref * (1 - pct / 100), 3),
                             capacity, "min", baseline=ref, maxRegressionPct=pct))
    return rows
