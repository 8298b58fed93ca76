"""Chat measurements Locust's response time cannot hold, recorded in every Locust process and
saved next to the CSVs as `<csv prefix>_chat.json`.

Per successful chat request (protocols/openai_chat.py): time to first token (TTFT: from sending
the request to the first content chunk), inter-token latency (ITL: each gap between two content
chunks), output tokens (the server's `usage.completion_tokens` when it sends usage, else the
number of content chunks) and that request's tokens per second (output tokens / end-to-end
time). Locust's own stats keep the end-to-end latency and the failures.

Each process keeps them in one-second slots (by the wall-clock second the request completed,
so windows of the history can be matched), each slot holding log-bucketed histograms
(`LogHistogram`, <= 1% relative error, mergeable). Workers ship what they recorded since the
last report with Locust's own stats report (`report_to_master`), so the numbers travel and
arrive exactly like Locust's counters, the final report included; the master merges them and
writes the file when it quits. A single local process writes its own. The gate reads the file
(`read_record`), locally and on Kubernetes alike.

No locust import at module level: the gate imports this to read the record.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from loadgate.loadgen.log_histogram import LogHistogram

SUFFIX = "_chat.json"
REPORT_KEY = "loadgate_chat"  # key of our part in a worker's stats report
VERSION = 1
HISTOGRAMS = ("ttftMs", "itlMs", "tokensPerS")


class Slot:
    """What completed within one second."""

    def __init__(self) -> None:
        self.requests = 0
        self.output_tokens = 0
        self.usage_reported = 0  # requests whose token count came from the server's usage
        self.hist = {name: LogHistogram() for name in HISTOGRAMS}

    def merge(self, other: Slot) -> Slot:
        self.requests += other.requests
        self.output_tokens += other.output_tokens
        self.usage_reported += other.usage_reported
        for name in HISTOGRAMS:
            self.hist[name].merge(other.hist[name])
        return self

    def to_json(self) -> dict:
        return {"requests": self.requests, "outputTokens": self.output_tokens,
                "usageReported": self.usage_reported,
                **{name: self.hist[name].to_json() for name in HISTOGRAMS}}

    @classmethod
    def from_json(cls, doc: dict) -> Slot:
        s = cls()
        s.requests = int(doc["requests"])
        s.output_tokens = int(doc["outputTokens"])
        s.usage_reported = int(doc["usageReported"])
        s.hist = {name: LogHistogram.from_json(doc[name]) for name in HISTOGRAMS}
        return s


class ChatRecord:
    """Chat measurements by completion second: one process's, or a whole run's once merged."""

    def __init__(self) -> None:
        self.slots: dict[int, Slot] = {}
        self.first_start: float | None = None  # wall clock, s: the earliest request sent
        self.last_end: float | None = None     # ... and the latest completed

    def __bool__(self) -> bool:
        return bool(self.slots)

    def add(self, *, start: float, end: float, ttft_s: float | None, gaps_s: list[float],
            output_tokens: int, usage_reported: bool) -> None:
        """One successful chat request; times in wall-clock seconds (time.time())."""
        slot = self.slots.setdefault(math.floor(end), Slot())
        slot.requests += 1
        slot.output_tokens += output_tokens
        slot.usage_reported += int(usage_reported)
        if ttft_s is not None:
            slot.hist["ttftMs"].add(ttft_s * 1000)
        for gap in gaps_s:
            slot.hist["itlMs"].add(gap * 1000)
        if end > start:
            slot.hist["tokensPerS"].add(output_tokens / (end - start))
        self._span(start, end)

    def _span(self, start: float | None, end: float | None) -> None:
        if start is not None:
            self.first_start = start if self.first_start is None else min(self.first_start, start)
        if end is not None:
            self.last_end = end if self.last_end is None else max(self.last_end, end)

    def merge(self, other: ChatRecord) -> ChatRecord:
        for t, slot in other.slots.items():
            self.slots.setdefault(t, Slot()).merge(slot)
        self._span(other.first_start, other.last_end)
        return self

    def take(self) -> ChatRecord:
        """Everything recorded so far, leaving this record empty (a worker's next report)."""
        out = ChatRecord()
        out.slots, out.first_start, out.last_end = self.slots, self.first_start, self.last_end
        self.__init__()
        return out

    def window(self, t_from: float | None = None, t_to: float | None = None) -> Slot:
        """The slots of requests completed in [t_from, t_to) merged into one."""
        total = Slot()
        for t, slot in self.slots.items():
            if (t_from is None or t >= math.floor(t_from)) and (t_to is None or t < t_to):
                total.merge(slot)
        return total

    def to_json(self) -> dict:
        return {"version": VERSION, "firstStart": self.first_start, "lastEnd": self.last_end,
                "slots": {str(t): s.to_json() for t, s in sorted(self.slots.items())}}

    @classmethod
    def from_json(cls, doc) -> ChatRecord:
        """ValueError for anything but to_json's form."""
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise ValueError("not a loadgate chat record (version 1)")
        rec = cls()
        try:
            rec.slots = {int(t): Slot.from_json(s) for t, s in doc["slots"].items()}
            for key in ("firstStart", "lastEnd"):
                if doc[key] is not None:
                    float(doc[key])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"malformed chat record: {e}") from None
        rec._span(doc["firstStart"], doc["lastEnd"])
        return rec


RECORDER = ChatRecord()  # this process's measurements (protocols/openai_chat.py adds to it)


def figures(slot: Slot, seconds: float | None) -> dict:
    """The summary figures of a set of chat requests; `seconds` is the time they took (for
    the aggregate output tokens per second), None when unknown."""
    ttft, itl, tps = (slot.hist[n] for n in HISTOGRAMS)

    def ms(h: LogHistogram, q: float):
        v = h.quantile(q)
        return None if v is None else round(v, 1)

    per_s = (slot.output_tokens / seconds) if seconds and seconds > 0 else None
    return {"chatRequests": slot.requests, "outputTokens": slot.output_tokens,
            "ttftP50Ms": ms(ttft, 0.5), "ttftP95Ms": ms(ttft, 0.95), "ttftP99Ms": ms(ttft, 0.99),
            "itlP50Ms": ms(itl, 0.5), "itlP95Ms": ms(itl, 0.95),
            "outputTokensPerS": None if per_s is None else round(per_s, 2),
            "requestTokensPerSP50": (None if tps.count == 0 else round(tps.quantile(0.5), 2)),
            "usageReportedShare": (round(slot.usage_reported / slot.requests, 4)
                                   if slot.requests else None)}


def record_path(csv_prefix: str | Path) -> Path:
    return Path(f"{csv_prefix}{SUFFIX}")


def read_record(csv_prefix: str | Path) -> ChatRecord | None:
    """The run's chat record; None when there is none (not a chat run); ValueError when the
    file exists but cannot be used."""
    path = record_path(csv_prefix)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValueError(f"cannot read {path.name}: {e.strerror or e}") from None
    try:
        return ChatRecord.from_json(json.loads(text))
    except ValueError as e:
        raise ValueError(f"{path.name} is unusable: {e}") from None


def watch(environment, **_) -> None:
    """events.init listener (the locustfile adds it for chat runs): workers ship their record
    with each stats report; the master, or a single local process, merges and saves it."""
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        def report(client_id, data, **_) -> None:
            if RECORDER:
                data[REPORT_KEY] = RECORDER.take().to_json()

        environment.events.report_to_master.add_listener(report)
        return
    total = ChatRecord()

    def from_worker(client_id, data, **_) -> None:
        if REPORT_KEY in data:
            total.merge(ChatRecord.from_json(data[REPORT_KEY]))

    def save(environment, **_) -> None:
        prefix = getattr(environment.parsed_options, "csv_prefix", None)
        if not isinstance(runner, MasterRunner):
            total.merge(RECORDER.take())  # a single process recorded everything itself
        if prefix:
            record_path(prefix).write_text(json.dumps(total.to_json(), separators=(",", ":")))

    environment.events.worker_report.add_listener(from_worker)
    environment.events.quitting.add_listener(save)
