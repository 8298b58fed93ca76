"""What the master's shape tells every Locust process, and what each process's engine does now.

The shape (master, or the single local runner) knows the plan and the workers. On every
change it sends each worker a control message: the plan window the run is in (so requests are
recorded per stage/step) and, for rate loads, that worker's share of the offered rate and of
maxInFlight, how arrivals are spaced, its place among the workers, and whether the plan is
over ("drain": start nothing new, finish what is in flight). The shares add up exactly: rates
are split evenly (floats), maxInFlight as integers with the remainder going to the first
workers. Constant arrivals are offset by index/total rps, so the workers' starts interleave.

`STATE` is the process's copy: the recorder reads the window, the open-loop engine the rate
and keeps `in_flight` (requests started and not answered yet, per window) up to date.
No locust import: the plan and the gate import this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MESSAGE = "loadgate-control"


@dataclass(frozen=True)
class Control:
    window: int = 0
    rps: float = 0.0            # this process's share of the offered rate (rate loads)
    max_in_flight: int = 0      # this process's share of maxInFlight
    arrival: str = "constant"   # constant | poisson
    index: int = 0              # this process among `count` (spreads constant arrivals)
    count: int = 1
    total_rps: float = 0.0      # the whole offered rate, across all processes
    drain: bool = False         # the plan is over: start nothing new
    open_loop: bool = False

    def as_message(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_message(cls, data) -> Control:
        if not isinstance(data, dict):
            raise ValueError(f"a control message must be a mapping, not {data!r}")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class ProcessState:
    """This process's control and its in-flight requests, per window."""

    control: Control = field(default_factory=Control)
    version: int = 0                 # bumped on every change: the engine polls it
    since: float = 0.0               # wall time the current window began here
    previous_window: int = 0
    in_flight: dict[int, int] = field(default_factory=dict)

    def apply(self, control: Control, now: float | None = None) -> None:
        if control == self.control:
            return
        if control.window != self.control.window:
            self.previous_window = self.control.window
            self.since = time.time() if now is None else now
        self.control = control
        self.version += 1

    def window_at(self, start_time: float | None) -> int:
        """The window a request belongs to by when it started (a request sent just before a
        change of window and answered after it counts for the window it was sent in)."""
        if start_time is not None and start_time < self.since:
            return self.previous_window
        return self.control.window


STATE = ProcessState()  # one per Locust process


def shares(total_rps: float, max_in_flight: int, n: int) -> list[tuple[float, int]]:
    """(rps, maxInFlight) per worker; they add up to the totals."""
    n = max(1, int(n))
    base, extra = divmod(int(max_in_flight), n)
    return [(total_rps / n, base + (1 if i < extra else 0)) for i in range(n)]


def controls(*, window: int, total_rps: float = 0.0, max_in_flight: int = 0,
             arrival: str = "constant", drain: bool = False, open_loop: bool = False,
             workers: int = 1) -> list[Control]:
    """One Control per worker, in worker order."""
    return [Control(window=window, rps=rps, max_in_flight=cap, arrival=arrival, index=i,
                    count=workers, total_rps=total_rps, drain=drain, open_loop=open_loop)
            for i, (rps, cap) in enumerate(shares(total_rps, max_in_flight, workers))]


def worker_ids(runner) -> list[str] | None:
    """The connected workers of a master runner, in a stable order; None for a local runner
    (the process itself runs the users)."""
    clients = getattr(runner, "clients", None)
    if clients is None:
        return None
    live = clients.ready + clients.spawning + clients.running
    return sorted(c.id for c in live)


def send(runner, per_worker: list[Control], ids: list[str] | None) -> None:
    """Each worker its control; a local runner applies its own."""
    if ids is None:
        STATE.apply(per_worker[0])
        return
    for client_id, control in zip(ids, per_worker, strict=True):
        runner.send_message(MESSAGE, control.as_message(), client_id=client_id)


def on_message(environment, msg, **_) -> None:
    """Worker side: the master's control message."""
    STATE.apply(Control.from_message(msg.data))
