"""Every Locust process records each request into its latency record (latency_record.py).

`watch` is an events.init listener (registered by the `-f latency_listener.py` module, so any
locustfile gets it): a request listener records each request's latency into the histogram of
its window and endpoint; about once a second a worker sends what is new, with its in-flight
gauge, to the master as a custom message (a local runner merges it in place); the master
merges the parts into its `Record`, marks window boundaries as the shape announces them, and
writes `<csv prefix>_latency.json` when it quits. Workers also take the shape's control
messages here (control.py): the window their requests belong to and, for rate loads, their
share of the rate.

An open-loop request (open_loop.py) arrives with `loadgate_window` (the window it was
scheduled in), `loadgate_task` and `loadgate_service_ms`; its `response_time` is already
counted from the scheduled start. Other requests go to the window they were sent in.
"""

from __future__ import annotations

import logging
import time

from loadgate.loadgen import control
from loadgate.loadgen.latency_record import MESSAGE, Part, Record

FLUSH_EVERY_S = 1.0
log = logging.getLogger("loadgate.recorder")


class Recorder:
    """One process's recording: what is new since the last flush, and (master or local
    runner) the whole run's record."""

    def __init__(self, record: Record | None = None) -> None:
        self.part = Part()
        self.record = record   # None on a worker: its parts go to the master

    def window(self, index: int):
        """The pending data of a window (for the open-loop engine's counts)."""
        return self.part.window(index)

    def on_request(self, request_type, name, response_time, response_length=0,
                   exception=None, start_time=None, loadgate_window=None, loadgate_task=None,
                   loadgate_service_ms=None, **_) -> None:
        if response_time is None:
            return
        if loadgate_window is not None:   # open loop: filed under the window it was due in
            index = loadgate_window
            ctl = control.STATE.control
            if not ctl.drain:             # ... and counted as achieved in the one running now
                self.part.window(ctl.window).answered += 1
        else:
            index = control.STATE.window_at(start_time)
        cell = self.part.window(index).cell(request_type, name)
        cell.requests += 1
        if exception:
            cell.failures += 1
        cell.latency.record(int(response_time * 1000.0))
        if loadgate_service_ms is not None:
            cell.service.record(int(loadgate_service_ms * 1000.0))
        if loadgate_task is not None and loadgate_task not in self.part.tasks:
            self.part.tasks[loadgate_task] = f"{request_type} {name}"

    def take(self) -> dict:
        """The flush message: the pending part (then empty again) and this process's gauge."""
        part, self.part = self.part, Part()
        state = control.STATE
        return {"part": part.to_json(),
                "gauge": {"inFlight": {str(k): n for k, n in state.in_flight.items() if n},
                          "draining": state.control.drain, "at": time.time()}}

    def flush_local(self) -> None:
        if self.record is not None:
            self.record.merge_message("local", self.take())


RECORDER: Recorder | None = None   # this process's, once watch() ran


def _prefix(environment) -> str | None:
    return getattr(environment.parsed_options, "csv_prefix", None)


def new_record() -> Record:
    """The master's record, described by the run's LoadTest (mode, plan windows)."""
    from loadgate.spec import read_runtime

    try:
        lt = read_runtime()
    except ValueError:
        lt = None
    if lt is None:
        return Record()
    load = lt.load
    return Record(mode="rate" if load.open_loop else "users", arrival=load.arrival,
                  max_in_flight=load.max_in_flight, plan=load.windows())


def watch(environment, **_) -> None:
    """events.init listener: record in every process; merge and write on the master."""
    import gevent
    from locust.runners import MasterRunner, WorkerRunner

    global RECORDER
    runner = environment.runner
    if runner is None:
        return
    worker = isinstance(runner, WorkerRunner)
    master = isinstance(runner, MasterRunner)
    record = None if worker else new_record()
    recorder = RECORDER = Recorder(record)
    environment.loadgate_record = record   # the shape reads it (windows, breakpoint steps)
    if not master:
        environment.events.request.add_listener(recorder.on_request)

    if worker:
        runner.register_message(control.MESSAGE, control.on_message)

        def send() -> None:
            runner.send_message(MESSAGE, recorder.take())

        def flusher() -> None:
            while True:
                gevent.sleep(FLUSH_EVERY_S)
                if recorder.part or runner.user_count:
                    send()

        gevent.spawn(flusher)
        # the last requests: test_stop fires after the users stopped, before the worker says so
        environment.events.test_stop.add_listener(lambda **_: send())
        return

    def from_worker(environment, msg, **_) -> None:
        try:
            record.merge_message(msg.node_id, msg.data)
        except ValueError as e:
            log.warning("ignoring a latency report from %s: %s", msg.node_id, e)

    if master:
        runner.register_message(MESSAGE, from_worker)
    else:
        def flusher_local() -> None:
            while True:
                gevent.sleep(FLUSH_EVERY_S)
                recorder.flush_local()

        gevent.spawn(flusher_local)
        environment.events.test_stop.add_listener(lambda **_: recorder.flush_local())

    def started(**_) -> None:
        if record.current is None and not record.meta:   # no shape: one window, the run
            record.begin_window(0)

    def save(environment, **_) -> None:
        recorder.flush_local()
        record.end()
        prefix = _prefix(environment)
        if prefix and record:
            record.write(prefix)

    environment.events.test_start.add_listener(started)
    environment.events.test_stop.add_listener(lambda **_: record.end())
    environment.events.quitting.add_listener(save)
