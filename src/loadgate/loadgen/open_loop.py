"""The open-loop engine: requests started on a schedule, whatever the answers (rate loads).

Locust only runs closed-loop users, so a rate load runs one `OpenLoopDriver` user per Locust
worker process (the shape asks for as many as there are workers; Locust's dispatcher gives
each worker one). The driver's single task is the scheduler: it takes this worker's share of
the offered rate from the shape's control message (control.py) and, at each scheduled time
(evenly spaced, or exponential gaps for `poisson`), picks one of the locustfile's tasks by
weight and starts it in its own greenlet on an idle client. The tasks are the locustfile's
own (for the built-in one: the scenario's protocol TASKS by weight), so every protocol runs
open loop the same way; the clients are instances of the locustfile's User class, created on
demand and reused, one per request in flight, so a slow answer never holds back the next start.

A request that cannot start on time because this worker's share of maxInFlight is in flight
is dropped and counted (never started late). The first request of each started task reports
its latency from the *scheduled* start (its client's request event is wrapped to add how late
it started; with a free slot that is only the scheduler's own lateness) and its service time
beside it; the recorder files it under the window it was scheduled in. When the plan is over
the shape sends "drain": nothing new starts, what is in flight finishes (up to stopTimeout).
When Locust stops the driver, requests still in flight are recorded as unfinished, with their
age as a lower bound of their latency, and abandoned.
"""

from __future__ import annotations

import logging
import random
import time

import gevent
from gevent.pool import Group
from locust import User, constant, task
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser
from locust.user.task import LOCUST_STATE_STOPPING

from loadgate.loadgen import control, recorder

POLL_S = 0.05   # the longest the scheduler sleeps: how fast it sees a new control or a stop
log = logging.getLogger("loadgate.open_loop")


class _Started:
    """One started request: when it was due, its window and task."""

    __slots__ = ("scheduled", "window", "task", "done")

    def __init__(self, scheduled: float, window: int, task_name: str):
        self.scheduled, self.window, self.task = scheduled, window, task_name
        self.done = False   # answered (or ended without an answer)


class ScheduledRequestEvent:
    """Stands in for `events.request` on one open-loop client: the first request of the task
    it is running reports its latency from the scheduled start, its service time, window and
    task; any further request of the same task is reported as Locust measured it."""

    __slots__ = ("hook", "engine", "started")

    def __init__(self, hook, engine: Engine):
        self.hook, self.engine, self.started = hook, engine, None

    def fire(self, **kw) -> None:
        started = self.started
        if started is not None:
            self.started = None
            self.engine.answered(started)
            rt = kw.get("response_time")
            if rt is not None:
                start = kw.get("start_time")
                late_ms = (start - started.scheduled) * 1000.0 if start else 0.0
                kw["response_time"] = rt + max(0.0, late_ms)
                kw["loadgate_service_ms"] = rt
            kw["loadgate_window"] = started.window
            kw["loadgate_task"] = started.task
        self.hook.fire(**kw)


def _request_tasks(environment) -> tuple[list, list[float]]:
    """[(user class, [(task function, name), ...])] of the locustfile and the classes' weights."""
    classes = [c for c in environment.user_classes if not issubclass(c, OpenLoopDriver)]
    if not classes:
        raise RuntimeError("a rate load needs a locustfile with a User class to send requests")
    out, weights = [], []
    for cls in classes:
        fns = []
        for t in cls.tasks:
            if not callable(t) or isinstance(t, type):
                raise RuntimeError(f"{cls.__name__}: a rate load runs plain task functions, "
                                   f"not TaskSets ({t!r})")
            fns.append((t, getattr(t, "__name__", "task")))
        if fns:
            out.append((cls, fns))
            weights.append(float(getattr(cls, "weight", 1) or 1))
    if not out:
        raise RuntimeError("a rate load needs at least one task with a weight above 0")
    return out, weights


class Engine:
    """One worker process's scheduler (run by its OpenLoopDriver)."""

    def __init__(self, environment, driver: User):
        self.environment, self.driver = environment, driver
        if recorder.RECORDER is None:
            raise RuntimeError("the open-loop engine needs latency_listener.py loaded (-f)")
        self.recorder = recorder.RECORDER
        self.kinds, self.weights = _request_tasks(environment)
        self.idle: dict[type, list] = {cls: [] for cls, _ in self.kinds}
        self.started: dict[object, _Started] = {}   # greenlet -> its request, until answered
        self.in_flight = 0
        self.group = Group()

    # --- scheduling ------------------------------------------------------------------------
    def run(self) -> None:
        """Start requests on schedule until Locust stops the driver."""
        state = control.STATE
        version, ctl, next_at = -1, state.control, None
        try:
            while self.driver._state != LOCUST_STATE_STOPPING:
                if state.version != version:
                    version, ctl = state.version, state.control
                    next_at = self._replan(ctl, next_at)
                if next_at is None:
                    gevent.sleep(POLL_S)
                    continue
                now = time.time()
                if next_at > now:
                    gevent.sleep(min(next_at - now, POLL_S))
                    continue
                while next_at <= now:   # everything due (a late wake-up starts a burst)
                    self._start(next_at, ctl)
                    next_at += self._gap(ctl)
        finally:
            self.abandon()

    def _replan(self, ctl: control.Control, next_at: float | None) -> float | None:
        if ctl.drain or ctl.rps <= 0:
            return None
        now = time.time()
        if next_at is None:
            # spread constant arrivals of the workers: worker i starts i/total later
            offset = ctl.index / ctl.total_rps if ctl.arrival == "constant" and \
                ctl.total_rps > 0 else 0.0
            return now + offset
        return min(next_at, now + self._gap(ctl))

    @staticmethod
    def _gap(ctl: control.Control) -> float:
        if ctl.arrival == "poisson":
            return random.expovariate(ctl.rps)
        return 1.0 / ctl.rps

    def _pick(self):
        kinds = self.kinds
        cls, fns = kinds[0] if len(kinds) == 1 else random.choices(kinds, self.weights)[0]
        return cls, random.choice(fns)

    def _start(self, scheduled: float, ctl: control.Control) -> None:
        cls, (fn, name) = self._pick()
        full = self.in_flight >= ctl.max_in_flight
        self.recorder.window(ctl.window).scheduled_at(name, scheduled, dropped=full)
        if full:
            return
        self.in_flight += 1
        started = _Started(scheduled, ctl.window, name)
        in_flight = control.STATE.in_flight
        in_flight[ctl.window] = in_flight.get(ctl.window, 0) + 1
        g = self.group.spawn(self._one, cls, fn, started)
        self.started[g] = started

    # --- one request -----------------------------------------------------------------------
    def _client(self, cls):
        idle = self.idle[cls]
        if idle:
            return idle.pop()
        user = cls(self.environment)
        client = getattr(user, "client", None)
        if client is not None and hasattr(client, "request_event"):
            client.request_event = ScheduledRequestEvent(client.request_event, self)
        user.on_start()
        return user

    def _one(self, cls, fn, started: _Started) -> None:
        user = None
        try:
            user = self._client(cls)
            late_us = int((time.time() - started.scheduled) * 1_000_000)
            self.recorder.window(started.window).lag.record(max(0, late_us))
            event = getattr(getattr(user, "client", None), "request_event", None)
            if isinstance(event, ScheduledRequestEvent):
                event.started = started
            fn(user)
        except (StopUser, InterruptTaskSet, RescheduleTask):
            pass
        except gevent.GreenletExit:
            raise
        except Exception as e:  # noqa: BLE001 - a failing task is reported, the run goes on
            self.environment.events.user_error.fire(user_instance=user, exception=e,
                                                    tb=e.__traceback__)
            log.error("open-loop task %s failed: %s", started.task, e)
        finally:
            self.answered(started)
            event = getattr(getattr(user, "client", None), "request_event", None)
            if isinstance(event, ScheduledRequestEvent):
                event.started = None
            self.in_flight -= 1
            self.started.pop(gevent.getcurrent(), None)
            if user is not None:
                self.idle[cls].append(user)

    def answered(self, started: _Started) -> None:
        """The request has its answer (or ended without one): it no longer counts in flight."""
        if started.done:
            return
        started.done = True
        in_flight = control.STATE.in_flight
        in_flight[started.window] = in_flight.get(started.window, 1) - 1

    def abandon(self) -> None:
        """The run is over: requests still in flight are unfinished (aged now), then killed."""
        now = time.time()
        for g, started in list(self.started.items()):
            if g.dead or started.done:
                continue
            wd = self.recorder.window(started.window)
            wd.unfinished[started.task] = wd.unfinished.get(started.task, 0) + 1
            wd.unfinished_latency.record_ms((now - started.scheduled) * 1000.0)
        self.group.kill(block=True, timeout=2.0)
        control.STATE.in_flight.clear()


class OpenLoopDriver(User):
    """The scheduler of one Locust process for rate loads (see the module doc)."""

    wait_time = constant(0)

    @task
    def drive(self) -> None:
        try:
            engine = Engine(self.environment, self)
        except RuntimeError as e:   # a locustfile it cannot run: say so once, send nothing
            log.error("the open-loop driver cannot run: %s", e)
            self.environment.events.user_error.fire(user_instance=self, exception=e,
                                                    tb=e.__traceback__)
            raise StopUser() from e
        engine.run()
        raise StopUser()
