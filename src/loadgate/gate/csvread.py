"""Read Locust's CSV files (`<prefix>_stats.csv`, `_stats_history.csv`, `_failures.csv`,
`_exceptions.csv`) and fail closed: anything that is not a complete, well-formed result set
raises `ResultsUnusable` with one sentence that names the file and the problem.

Only `_stats_history.csv` may be absent (the summary and thresholds come from `_stats.csv`;
without history there is just no breaking point). A history file that exists but is broken is
still unusable: a half-written file means the run did not end cleanly.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from loadgate.analysis.history import HistoryPoint
from loadgate.gate.errors import ResultsUnusable

PERCENTILE_COLUMNS = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%",
                      "99.99%", "100%")
STATS_REQUIRED = ("Type", "Name", "Request Count", "Failure Count", "Median Response Time",
                  "Average Response Time", "Requests/s", "Failures/s", "50%", "95%", "99%")
HISTORY_REQUIRED = ("Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
                    *PERCENTILE_COLUMNS, "Total Request Count", "Total Failure Count",
                    "Total Average Response Time")
HISTORY_TOLERANCE = 0.1  # history's last total vs the stats total (one late row at most)
FAILURES_REQUIRED = ("Method", "Name", "Error", "Occurrences")
EXCEPTIONS_REQUIRED = ("Count", "Message")
EXCEPTION_SHOWN_CHARS = 200


class NoRequests(ResultsUnusable):
    """The stats record zero requests (read_results adds what Locust's tasks raised)."""


@dataclass(frozen=True)
class StatsRow:
    method: str
    name: str
    requests: int
    failures: int
    rps: float
    median_ms: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass
class LocustResults:
    prefix: str
    endpoints: list[StatsRow]
    total: StatsRow
    history: list[HistoryPoint] | None  # aggregated rows, one per second; None if no file
    endpoint_history: dict[str, list[HistoryPoint]] = field(default_factory=dict)
    history_windowed: bool = False  # True: history percentiles are Locust's ~10 s "current" ones
    failures: list[dict] = field(default_factory=list)  # {method, name, error, occurrences}
    exceptions: int = 0
    notes: list[str] = field(default_factory=list)


def _read_table(path: Path, required: tuple[str, ...], *, need_rows: bool) -> list[dict]:
    """Rows of a CSV as dicts, after checking it is complete and has the expected columns."""
    if not path.is_file():
        raise ResultsUnusable(f"{path} was not found: the run wrote no results there.")
    data = path.read_bytes()
    if not data.strip():
        raise ResultsUnusable(f"{path} is empty: the run ended before Locust wrote its results.")
    if not data.endswith(b"\n"):
        raise ResultsUnusable(f"{path} ends in the middle of a line: the file is truncated.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultsUnusable(f"{path} is not UTF-8 text: it is not a Locust CSV.") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as e:
        raise ResultsUnusable(f"{path} is not a well-formed CSV ({e}): it is corrupt.") from None
    rows = [r for r in rows if r]  # csv yields [] for blank lines
    header = rows[0]
    missing = [c for c in required if c not in header]
    if missing:
        raise ResultsUnusable(
            f"{path} is not a Locust CSV of the expected kind: column {missing[0]!r} is missing.")
    if need_rows and len(rows) == 1:
        raise ResultsUnusable(f"{path} has a header but no rows: Locust recorded nothing.")
    out = []
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ResultsUnusable(
                f"{path} line {lineno} has {len(r)} fields instead of {len(header)}: "
                "the file is truncated or corrupt.")
        out.append({"_line": lineno, **dict(zip(header, r, strict=True))})
    return out


def _num(path: Path, row: dict, col: str, kind=float):
    raw = row[col].strip()
    try:
        value = kind(raw) if kind is float else int(float(raw))
    except ValueError:
        shown = raw if raw else "empty"
        raise ResultsUnusable(
            f"{path} line {row['_line']} has {shown!r} in column {col!r} where a number "
            "belongs.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultsUnusable(
            f"{path} line {row['_line']} has {raw!r} in column {col!r} where a finite number "
            "belongs.")
    if value < 0:
        raise ResultsUnusable(
            f"{path} line {row['_line']} has a negative {col!r} ({raw}): not a Locust result.")
    return value


def _stats_row(path: Path, row: dict) -> StatsRow:
    requests = _num(path, row, "Request Count", int)

    def latency(col: str) -> float:
        # An entry with no requests has no latencies: Locust writes N/A, which is honest.
        if requests == 0 and row[col].strip() in ("N/A", ""):
            return 0.0
        return _num(path, row, col)

    return StatsRow(
        method=row["Type"].strip(), name=row["Name"].strip(), requests=requests,
        failures=_num(path, row, "Failure Count", int),
        rps=_num(path, row, "Requests/s"),
        median_ms=latency("Median Response Time"), avg_ms=latency("Average Response Time"),
        p50_ms=latency("50%"), p95_ms=latency("95%"), p99_ms=latency("99%"),
    )


def read_stats(path: Path) -> tuple[list[StatsRow], StatsRow]:
    rows = _read_table(path, STATS_REQUIRED, need_rows=True)
    agg = [r for r in rows if r["Name"].strip() == "Aggregated"]
    if not agg:
        raise ResultsUnusable(f"{path} has no 'Aggregated' row: the stats file is incomplete.")
    total_count = _num(path, agg[-1], "Request Count", int)
    if total_count == 0:
        raise NoRequests(f"{path} records zero requests: the load never reached the target.")
    total = _stats_row(path, agg[-1])
    endpoints = [_stats_row(path, r) for r in rows if r["Name"].strip() != "Aggregated"]
    if sum(e.requests for e in endpoints) != total.requests:
        raise ResultsUnusable(
            f"{path} is inconsistent: its endpoint rows add up to "
            f"{sum(e.requests for e in endpoints)} requests but 'Aggregated' says "
            f"{total.requests}.")
    return endpoints, total


def _history_point(path: Path, row: dict) -> HistoryPoint:
    count = _num(path, row, "Total Request Count", int)
    if count == 0:
        pct = dict.fromkeys(PERCENTILE_COLUMNS, 0.0)  # Locust writes N/A before any request
    else:
        pct = {c: _num(path, row, c) for c in PERCENTILE_COLUMNS}
    return HistoryPoint(
        t=_num(path, row, "Timestamp"), users=_num(path, row, "User Count", int),
        current_rps=_num(path, row, "Requests/s"),
        current_fail_per_s=_num(path, row, "Failures/s"),
        p50_ms=pct["50%"], p95_ms=pct["95%"], p99_ms=pct["99%"], max_ms=pct["100%"],
        percentiles={c: pct[c] for c in PERCENTILE_COLUMNS},
        total_requests=count, total_failures=_num(path, row, "Total Failure Count", int),
        total_avg_ms=_num(path, row, "Total Average Response Time"),
    )


def read_history(path: Path) -> tuple[list[HistoryPoint], dict[str, list[HistoryPoint]], bool]:
    rows = _read_table(path, HISTORY_REQUIRED, need_rows=True)
    agg, per_endpoint = [], {}
    for r in rows:
        point = _history_point(path, r)
        if r["Name"].strip() == "Aggregated":
            agg.append(point)
        else:
            per_endpoint.setdefault(r["Name"].strip(), []).append(point)
    if not agg:
        raise ResultsUnusable(f"{path} has no 'Aggregated' rows: the history is incomplete.")
    for a, b in zip(agg, agg[1:], strict=False):
        if b.t < a.t or b.total_requests < a.total_requests:
            raise ResultsUnusable(
                f"{path} goes backwards in time or request count: it mixes two runs or is "
                "corrupt.")
    # Locust 2.x writes the ~10 s sliding-window ("current") percentiles when per-endpoint rows
    # are present (--csv-full-history) and cumulative ones otherwise.
    return agg, per_endpoint, bool(per_endpoint)


def top_exception(exc_path: Path) -> tuple[int, str] | None:
    """(count, first line of the message) of the most frequent exception, None if none or
    the file is unusable (this only explains another problem)."""
    try:
        rows = _read_table(exc_path, EXCEPTIONS_REQUIRED, need_rows=True)
        counted = [(_num(exc_path, r, "Count", int), r["Message"]) for r in rows]
    except ResultsUnusable:
        return None
    count, message = max(counted, key=lambda c: c[0])
    lines = message.strip().splitlines() or [""]
    return count, lines[0][:EXCEPTION_SHOWN_CHARS]


def _top_exception_clause(exc_path: Path) -> str:
    top = top_exception(exc_path)
    if top is None:
        return ""
    count, message = top
    return (f"; the most frequent exception in Locust's tasks ({count} times, "
            f"{exc_path.name}): {message}")


def read_results(prefix: str | Path) -> LocustResults:
    """Read and check a whole result set; raises ResultsUnusable with one sentence."""
    prefix = str(prefix)
    stats_path = Path(prefix + "_stats.csv")
    if not stats_path.exists() and Path(prefix).is_dir():
        found = sorted(Path(prefix).glob("*_stats.csv"))
        if found:  # a common slip: the directory instead of the prefix
            hint = str(found[0])[: -len("_stats.csv")]
            raise ResultsUnusable(f"{stats_path} was not found: {prefix} is a directory, "
                                  f"so the prefix is probably {hint}.")
    exc_path = Path(prefix + "_exceptions.csv")
    try:
        endpoints, total = read_stats(stats_path)
    except NoRequests as e:
        raise NoRequests(str(e).rstrip(".") + _top_exception_clause(exc_path) + ".") from None
    failures = [
        {"method": r["Method"], "name": r["Name"], "error": r["Error"],
         "occurrences": _num(Path(prefix + "_failures.csv"), r, "Occurrences", int)}
        for r in _read_table(Path(prefix + "_failures.csv"), FAILURES_REQUIRED, need_rows=False)
    ]
    exc_rows = _read_table(exc_path, EXCEPTIONS_REQUIRED, need_rows=False)
    exceptions = sum(_num(exc_path, r, "Count", int) for r in exc_rows)
    if exceptions > total.requests:
        # most tasks crashed before a request was recorded: the numbers describe a few
        # stray requests, not the load that was planned
        raise ResultsUnusable(
            f"{exc_path} counts {exceptions} exceptions in Locust's tasks against only "
            f"{total.requests} recorded requests: the load did not reach the target as planned"
            + _top_exception_clause(exc_path) + ".")
    history_path = Path(prefix + "_stats_history.csv")
    res = LocustResults(prefix=prefix, endpoints=endpoints, total=total, history=None,
                        failures=failures, exceptions=exceptions)
    if history_path.exists():
        res.history, res.endpoint_history, res.history_windowed = read_history(history_path)
        # Locust writes a last history row with the final totals when it stops cleanly
        # (SIGINT, --run-time); SIGTERM kills Locust 2.47 between buffered writes, and a stale
        # file under the same prefix belongs to another run. Either way the files disagree.
        last = res.history[-1].total_requests
        if abs(last - total.requests) > HISTORY_TOLERANCE * total.requests:
            raise ResultsUnusable(
                f"{history_path} ends at {last} requests but {stats_path} counts "
                f"{total.requests}: Locust was stopped before its final write or the files "
                "come from different runs.")
    else:
        res.notes.append(f"{history_path} is absent, so no breaking point was computed.")
    return res
