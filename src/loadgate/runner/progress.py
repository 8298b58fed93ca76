"""Progress lines during a run, read from the tail of Locust's `<prefix>_stats_history.csv`.

The file is being appended to while we read it, so only complete lines count and anything
unparsable is skipped: progress is informative, the gate does the strict reading afterwards.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

TAIL_BYTES = 16_384


@dataclass(frozen=True)
class Snapshot:
    users: int
    rps: float
    p95_ms: float | None
    requests: int
    failures: int


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None  # "N/A" before the first response


def last_snapshot(history_csv: Path) -> Snapshot | None:
    """The newest Aggregated row of the history file, or None if there is none yet."""
    try:
        with open(history_csv, "rb") as f:
            header = f.readline().decode("utf-8", "replace")
            f.seek(0, io.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    if not header.endswith("\n"):
        return None
    lines = tail.split("\n")[:-1]  # drop the part after the last newline: maybe half-written
    columns = next(csv.reader([header]))
    for line in reversed(lines):
        values = next(csv.reader([line]), [])
        if len(values) != len(columns):
            continue
        row = dict(zip(columns, values, strict=True))
        if row.get("Name") != "Aggregated":
            continue
        users, rps = _num(row.get("User Count", "")), _num(row.get("Requests/s", ""))
        requests = _num(row.get("Total Request Count", ""))
        failures = _num(row.get("Total Failure Count", ""))
        if None in (users, rps, requests, failures):
            continue
        return Snapshot(int(users), rps, _num(row.get("95%", "")), int(requests), int(failures))
    return None


def progress_line(elapsed_s: float, snap: Snapshot | None, workers_note: str = "",
                  open_loop: bool = False) -> str:
    """`[  15s] users 10  rps 23.4  p95 120 ms  failures 0 (0.00%)`; a rate load (open loop)
    shows `open loop` instead of its users (one scheduler per worker)."""
    head = f"[{elapsed_s:5.0f}s]"
    if snap is None or (snap.users == 0 and snap.requests == 0):
        return f"{head} starting Locust{workers_note}, no statistics yet"
    p95 = "n/a" if snap.p95_ms is None else f"{snap.p95_ms:.0f} ms"
    rate = snap.failures / snap.requests if snap.requests else 0.0
    load = "open loop " if open_loop else f"users {snap.users:<4d}"
    return (f"{head} {load} rps {snap.rps:7.1f}  p95 {p95:>8}  "
            f"requests {snap.requests}  failures {snap.failures} ({rate:.2%})")
