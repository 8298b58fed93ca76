"""The latency record of a run: every request's latency in mergeable histograms, per plan window
(stage, breakpoint step, or the whole of a constant load) and endpoint, and for rate loads what
was scheduled, dropped and left unanswered.

Every Locust process records its own requests (recorder.py) and sends what is new to the master
about once a second; the master merges the parts into one `Record` and writes
`<csv prefix>_latency.json` when it quits. Because the histograms merge exactly, the master's
percentiles are those of all requests of all workers (Locust's own are rounded, and the p95s of
several workers cannot be combined). The gate prefers this file over Locust's percentiles
(`read_record`); without it (a foreign run) it falls back to the CSVs.

Per window and endpoint: requests (failures included, as Locust counts them), failures, the
latency histogram (for rate loads from each request's *scheduled* start, as a client would
have seen it; otherwise from when it was sent) and for rate loads the service time (from when
it was sent). Per window, by task (the scenario's request kinds): scheduled, dropped (could not
start: maxInFlight reached), unfinished (still unanswered when the run ended; their age then is
recorded as a lower bound of their latency), and the generator's own lateness (how long after
its scheduled time a request actually started); and `answered`, the open-loop answers that
arrived while the window ran, whenever they were scheduled (the achieved rate: an overloaded
target answers the queue of earlier windows). `tasks` maps a task to the endpoint its first
request reported, so drops can be shown per endpoint.

No locust import: the gate and the plan import this.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from loadgate.histogram import RELATIVE_ERROR, SUB_BITS, Histogram

SUFFIX = "_latency.json"
MESSAGE = "loadgate-latency"   # worker -> master: a part and the worker's gauge
VERSION = 1


def record_path(csv_prefix: str | Path) -> Path:
    return Path(f"{csv_prefix}{SUFFIX}")


class Cell:
    """One endpoint in one window."""

    __slots__ = ("requests", "failures", "latency", "service")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.latency = Histogram()
        self.service = Histogram()   # rate loads: from sending; empty otherwise

    def merge(self, other: Cell) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.latency.merge(other.latency)
        self.service.merge(other.service)

    def to_json(self, method: str, name: str) -> dict:
        doc = {"method": method, "name": name, "requests": self.requests,
               "failures": self.failures, "latency": self.latency.to_json()}
        if self.service:
            doc["service"] = self.service.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> tuple[str, str, Cell]:
        cell = cls()
        cell.requests, cell.failures = _count(doc, "requests"), _count(doc, "failures")
        cell.latency = Histogram.from_json(doc.get("latency", {}))
        if "service" in doc:
            cell.service = Histogram.from_json(doc["service"])
        method, name = doc.get("method"), doc.get("name")
        if not isinstance(method, str) or not isinstance(name, str):
            raise ValueError("an endpoint needs a method and a name")
        return method, name, cell


class WindowData:
    """What the requests of one window did (a part of it, in one process, or all of it)."""

    __slots__ = ("cells", "scheduled", "dropped", "unfinished", "unfinished_latency", "lag",
                 "first_scheduled", "last_scheduled", "answered")

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, Cell]] = {}   # name -> method -> Cell
        self.scheduled: dict[str, int] = {}            # by task
        self.dropped: dict[str, int] = {}
        self.unfinished: dict[str, int] = {}
        self.unfinished_latency = Histogram()
        self.lag = Histogram()                         # start - scheduled, of started requests
        self.first_scheduled: float | None = None      # wall seconds
        self.last_scheduled: float | None = None
        self.answered = 0                              # open-loop answers while it ran

    def cell(self, method: str, name: str) -> Cell:
        by_method = self.cells.get(name)
        if by_method is None:
            by_method = self.cells[name] = {}
        cell = by_method.get(method)
        if cell is None:
            cell = by_method[method] = Cell()
        return cell

    def scheduled_at(self, task: str, when: float, dropped: bool) -> None:
        self.scheduled[task] = self.scheduled.get(task, 0) + 1
        if dropped:
            self.dropped[task] = self.dropped.get(task, 0) + 1
        if self.first_scheduled is None:
            self.first_scheduled = when
        self.last_scheduled = when

    def merge(self, other: WindowData) -> WindowData:
        for name, by_method in other.cells.items():
            for method, cell in by_method.items():
                self.cell(method, name).merge(cell)
        for mine, theirs in ((self.scheduled, other.scheduled), (self.dropped, other.dropped),
                             (self.unfinished, other.unfinished)):
            for task, n in theirs.items():
                mine[task] = mine.get(task, 0) + n
        self.unfinished_latency.merge(other.unfinished_latency)
        self.lag.merge(other.lag)
        self.answered += other.answered
        firsts = [t for t in (self.first_scheduled, other.first_scheduled) if t is not None]
        lasts = [t for t in (self.last_scheduled, other.last_scheduled) if t is not None]
        self.first_scheduled = min(firsts) if firsts else None
        self.last_scheduled = max(lasts) if lasts else None
        return self

    def __bool__(self) -> bool:
        return bool(self.cells or self.scheduled or self.unfinished or self.answered)

    # --- figures ---------------------------------------------------------------------------
    def endpoints(self):
        """(method, name, Cell) in a stable order."""
        for name in sorted(self.cells):
            for method in sorted(self.cells[name]):
                yield method, name, self.cells[name][method]

    @property
    def requests(self) -> int:
        return sum(c.requests for _, _, c in self.endpoints())

    @property
    def failures(self) -> int:
        return sum(c.failures for _, _, c in self.endpoints())

    def completed_latency(self) -> Histogram:
        h = Histogram()
        for _, _, c in self.endpoints():
            h.merge(c.latency)
        return h

    def latency(self) -> Histogram:
        """Answered requests and, at their age when the run ended, unanswered ones."""
        return self.completed_latency().merge(self.unfinished_latency)

    def service(self) -> Histogram:
        h = Histogram()
        for _, _, c in self.endpoints():
            h.merge(c.service)
        return h

    def total(self, counter: str) -> int:
        return sum(getattr(self, counter).values())

    # --- JSON ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        doc = {"endpoints": [c.to_json(m, n) for m, n, c in self.endpoints()]}
        if self.scheduled or self.unfinished or self.answered:
            doc.update(scheduled=dict(self.scheduled), dropped=dict(self.dropped),
                       unfinished=dict(self.unfinished),
                       unfinishedLatency=self.unfinished_latency.to_json(),
                       lag=self.lag.to_json(), firstScheduledS=self.first_scheduled,
                       lastScheduledS=self.last_scheduled, answered=self.answered)
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> WindowData:
        wd = cls()
        for ep in doc.get("endpoints", []):
            method, name, cell = Cell.from_json(ep)
            wd.cell(method, name).merge(cell)
        for key, attr in (("scheduled", "scheduled"), ("dropped", "dropped"),
                          ("unfinished", "unfinished")):
            counts = doc.get(key, {})
            if not isinstance(counts, dict):
                raise ValueError(f"{key} must map tasks to counts")
            setattr(wd, attr, {str(t): _count(counts, t) for t in counts})
        if "unfinishedLatency" in doc:
            wd.unfinished_latency = Histogram.from_json(doc["unfinishedLatency"])
        if "lag" in doc:
            wd.lag = Histogram.from_json(doc["lag"])
        wd.first_scheduled = _time(doc.get("firstScheduledS"))
        wd.last_scheduled = _time(doc.get("lastScheduledS"))
        wd.answered = _count(doc, "answered")
        return wd


def _count(doc: dict, key) -> int:
    v = doc.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{key!r} must be a non-negative integer, not {v!r}")
    return v


def _time(v) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"a time must be a number of seconds, not {v!r}")
    return float(v)


class Part:
    """Windows of data by index, and the endpoint each task's requests reported."""

    def __init__(self) -> None:
        self.windows: dict[int, WindowData] = {}
        self.tasks: dict[str, str] = {}

    def window(self, index: int) -> WindowData:
        wd = self.windows.get(index)
        if wd is None:
            wd = self.windows[index] = WindowData()
        return wd

    def merge(self, other: Part) -> Part:
        for index, wd in other.windows.items():
            self.window(index).merge(wd)
        for task, endpoint in other.tasks.items():
            self.tasks.setdefault(task, endpoint)
        return self

    def __bool__(self) -> bool:
        return any(self.windows.values())

    def to_json(self) -> dict:
        return {"windows": [{"index": i, **self.windows[i].to_json()}
                            for i in sorted(self.windows) if self.windows[i]],
                "tasks": dict(self.tasks)}

    @classmethod
    def from_json(cls, doc) -> Part:
        if not isinstance(doc, dict) or not isinstance(doc.get("windows", []), list):
            raise ValueError("a latency part must be an object with a list of windows")
        part = cls()
        for w in doc.get("windows", []):
            if not isinstance(w, dict) or isinstance(w.get("index"), bool) or \
                    not isinstance(w.get("index"), int):
                raise ValueError("every window needs an integer index")
            part.window(w["index"]).merge(WindowData.from_json(w))
        tasks = doc.get("tasks", {})
        if isinstance(tasks, dict):
            part.tasks = {str(k): str(v) for k, v in tasks.items()}
        return part


class Record(Part):
    """The whole run's record (on the master, and as read back by the gate): the merged parts
    and, per window, when it ran and what the plan asked for."""

    def __init__(self, *, mode: str = "users", arrival: str | None = None,
                 max_in_flight: int | None = None, plan=()) -> None:
        super().__init__()
        self.mode = mode                    # "rate" | "users"
        self.arrival = arrival
        self.max_in_flight = max_in_flight
        self.plan = {w.index: w for w in plan}   # spec PlanWindow by index
        self.meta: dict[int, dict] = {}      # index -> {"startS", "endS", and from the file}
        self.gauges: dict[str, dict] = {}    # worker -> its last {"inFlight", "draining", "at"}
        self.current: int | None = None

    # --- on the master -----------------------------------------------------------------------
    def begin_window(self, index: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if index == self.current:
            return
        self.end(now)
        self.meta.setdefault(index, {})["startS"] = now
        self.meta[index].pop("endS", None)
        self.current = index

    def end(self, now: float | None = None) -> None:
        """The current window (if any) ends now."""
        if self.current is not None:
            self.meta[self.current]["endS"] = time.time() if now is None else now
            self.current = None

    def merge_message(self, sender: str, data) -> None:
        """A worker's (or this process's) flush: {"part": ..., "gauge": ...}."""
        if not isinstance(data, dict):
            raise ValueError("a latency message must be a mapping")
        self.merge(Part.from_json(data.get("part", {})))
        gauge = data.get("gauge")
        if isinstance(gauge, dict):
            self.gauges[sender] = gauge

    def snapshot(self, index: int) -> dict:
        """Window `index` as the workers last reported it (for judging a breakpoint step):
        its data merged so far, the requests still in flight, and how old they are at least
        (seconds since the window ended, as of the oldest report)."""
        wd = self.windows.get(index) or WindowData()
        in_flight = sum(int((g.get("inFlight") or {}).get(str(index), 0))
                        for g in self.gauges.values())
        end = self.meta.get(index, {}).get("endS")
        ats = [g.get("at") for g in self.gauges.values() if isinstance(g.get("at"), int | float)]
        age = max(0.0, min(ats) - end) if ats and end is not None else 0.0
        return {"data": wd, "inFlight": in_flight, "inFlightAgeS": age}

    def drained(self) -> bool:
        """Every worker reported that it starts nothing new and has nothing in flight."""
        return bool(self.gauges) and all(
            g.get("draining") and not any((g.get("inFlight") or {}).values())
            for g in self.gauges.values())

    # --- the file ----------------------------------------------------------------------------
    def window_meta(self, index: int) -> dict:
        meta = dict(self.meta.get(index, {}))
        pw = self.plan.get(index)
        if pw is not None:
            meta.setdefault("name", pw.name)
            meta.setdefault("users", pw.users)
            meta.setdefault("plannedRps", pw.rps)
        return meta

    def to_json(self) -> dict:
        indexes = sorted(set(self.windows) | set(self.meta))
        return {"version": VERSION, "mode": self.mode, "arrival": self.arrival,
                "maxInFlight": self.max_in_flight,
                "histogram": {"unit": "us", "subBucketBits": SUB_BITS,
                              "relativeError": round(RELATIVE_ERROR, 5)},
                "windows": [{"index": i, **self.window_meta(i),
                             **self.window(i).to_json()} for i in indexes],
                "tasks": dict(self.tasks)}

    def write(self, csv_prefix: str | Path) -> Path:
        path = record_path(csv_prefix)
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")
        return path

    @classmethod
    def from_json(cls, doc) -> Record:
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} latency record")
        mode = doc.get("mode")
        if mode not in ("rate", "users"):
            raise ValueError(f"mode must be rate or users, not {mode!r}")
        rec = cls(mode=mode, arrival=doc.get("arrival"), max_in_flight=doc.get("maxInFlight"))
        rec.merge(Part.from_json(doc))
        for w in doc.get("windows", []):
            meta = {k: w[k] for k in ("name", "users", "plannedRps", "startS", "endS")
                    if w.get(k) is not None}
            for k in ("startS", "endS"):
                if k in meta:
                    meta[k] = _time(meta[k])
            rec.meta[w["index"]] = meta
        return rec

    # --- figures for the gate ----------------------------------------------------------------
    def indexes(self) -> list[int]:
        return sorted(set(self.windows) | set(self.meta))

    def whole(self) -> WindowData:
        """Every window merged: the whole run."""
        total = WindowData()
        for wd in self.windows.values():
            total.merge(wd)
        return total

    def duration_s(self, index: int) -> float | None:
        """How long window `index` ran (its start to its end, as the master saw them)."""
        meta = self.meta.get(index, {})
        start, end = meta.get("startS"), meta.get("endS")
        wd = self.windows.get(index)
        if end is None and wd is not None:
            end = wd.last_scheduled
        if start is None or end is None or end <= start:
            return None
        return end - start


def read_record(csv_prefix: str | Path) -> tuple[Record | None, str | None]:
    """(the record, None), (None, None) when there is none, or (None, why it is unusable)."""
    path = record_path(csv_prefix)
    if not path.exists():
        return None, None
    try:
        return Record.from_json(json.loads(path.read_text())), None
    except (OSError, ValueError, TypeError, KeyError) as e:
        return None, (f"{path} is unusable ({e}); latency percentiles come from Locust's "
                      "CSVs instead")
