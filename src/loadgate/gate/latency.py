"""The latency record's figures in summary.json: exact percentiles, and what a rate load
offered, achieved and dropped (whole run and per endpoint). Pure: the record is read by
results.py. offeredRps: requests scheduled per second of load; achievedRps: answers received
per second while the load ran (per endpoint: its answered requests per second of load).

Percentiles come from the record's histograms (latencySource "histogram") when it covers the
run: at least COVERAGE of the requests Locust counted (the last report of a worker can be
lost when Locust stops; Locust's own totals have the same gap). Otherwise, or without a
record (a foreign run), Locust's rounded CSV percentiles stay (latencySource "csv").
Closed-loop users never drop a request: such runs report dropped 0.
"""

from __future__ import annotations

COVERAGE = 0.9


def usable(record, csv_requests: int) -> str | None:
    """Why the record cannot replace Locust's percentiles (None: it can)."""
    recorded = record.whole().requests
    if csv_requests and recorded < COVERAGE * csv_requests:
        return (f"the latency record holds {recorded} of the {csv_requests} requests Locust "
                "counted, so the percentiles come from Locust's CSVs")
    return None


def _ms(value):
    return round(value, 1) if value is not None else None


def _durations(record) -> float:
    return sum(d for i in record.indexes() if (d := record.duration_s(i)) is not None)


def summary_figures(record) -> dict:
    """Keys to merge into summary.json's `summary`."""
    whole = record.whole()
    latency = whole.latency()
    out = {"p50Ms": _ms(latency.percentile(0.5)), "p95Ms": _ms(latency.percentile(0.95)),
           "p99Ms": _ms(latency.percentile(0.99)), "avgMs": _ms(latency.mean_ms()),
           "maxMs": _ms(latency.percentile(1.0)), "latencySource": "histogram"}
    if record.mode != "rate":
        return {**out, "dropped": 0, "droppedRate": 0.0}
    duration = _durations(record)
    scheduled, dropped = whole.total("scheduled"), whole.total("dropped")
    return {**out, "openLoop": True, "maxUsers": 0,   # no closed-loop users ran
            "offeredRps": round(scheduled / duration, 3) if duration else 0.0,
            "achievedRps": round(whole.answered / duration, 3) if duration else 0.0,
            "scheduled": scheduled, "dropped": dropped,
            "droppedRate": round(dropped / scheduled, 6) if scheduled else 0.0,
            "unfinished": whole.total("unfinished"),
            "serviceP95Ms": _ms(whole.service().percentile(0.95)),
            "arrival": record.arrival, "maxInFlight": record.max_in_flight}


def update_endpoints(endpoints: list[dict], record) -> None:
    """Exact percentiles per endpoint; for rate loads its scheduled, dropped, offered and
    achieved figures (drops are known by task: each task's endpoint is the one its requests
    reported)."""
    whole = record.whole()
    cells = {(m, n): c for m, n, c in whole.endpoints()}
    duration = _durations(record)
    by_endpoint: dict[str, list[str]] = {}
    for task, endpoint in record.tasks.items():
        by_endpoint.setdefault(endpoint, []).append(task)
    for e in endpoints:
        cell = cells.get((e["method"], e["name"]))
        if cell is not None and cell.latency:
            e.update(p50Ms=_ms(cell.latency.percentile(0.5)),
                     p95Ms=_ms(cell.latency.percentile(0.95)),
                     p99Ms=_ms(cell.latency.percentile(0.99)), latencySource="histogram")
        if record.mode != "rate":
            e.update(dropped=0, droppedRate=0.0)
            continue
        tasks = by_endpoint.get(f"{e['method']} {e['name']}", [])
        scheduled = sum(whole.scheduled.get(t, 0) for t in tasks)
        dropped = sum(whole.dropped.get(t, 0) for t in tasks)
        answered = cell.requests if cell is not None else 0
        e.update(scheduled=scheduled, dropped=dropped,
                 droppedRate=round(dropped / scheduled, 6) if scheduled else 0.0,
                 offeredRps=round(scheduled / duration, 3) if duration else 0.0,
                 achievedRps=round(answered / duration, 3) if duration else 0.0)


def generator_figures(record) -> dict:
    """How late the generator started requests (rate loads): its own share of the latency."""
    if record.mode != "rate":
        return {}
    lag = record.whole().lag
    if not lag:
        return {}
    return {"scheduleLagP95Ms": _ms(lag.percentile(0.95)),
            "scheduleLagP99Ms": _ms(lag.percentile(0.99)),
            "scheduleLagMaxMs": _ms(lag.percentile(1.0))}
