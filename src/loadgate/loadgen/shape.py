"""One LoadTestShape for every shaped load (stages, breakpoint, rate, rateStages), driven by
the run's LoadTest.

Modelled on Locust's examples/custom_shape/stages.py, with the plan as data (spec.load), not
code; the logic is `loadgate.loadgen.plan.ShapePlan`. Locust runs shapes on the master only:
add this file with `-f locustfile.py,shape.py`. A breakpoint run stops early once the SLO is
broken for a whole step and logs why.

On every change the shape tells each worker the plan window (control.py) and marks it in the
master's latency record; for a rate load also each worker's share of the rate, and it runs
one open-loop driver user per worker instead of the locustfile's users (open_loop.py).
"""

from __future__ import annotations

import logging

from locust import LoadTestShape

from loadgate.loadgen import control
from loadgate.loadgen.plan import ShapePlan
from loadgate.spec import Load, read_runtime

log = logging.getLogger("loadgate.shape")


def _plan_from_runtime() -> ShapePlan:
    lt = read_runtime()
    return ShapePlan(lt.load, lt.thresholds) if lt is not None else ShapePlan(Load())


class LoadgateShape(LoadTestShape):
    """Stages or breakpoint from the run's LoadTest. `plan` is for tests; Locust passes none.

    Locust ignores --run-time while a shape runs, so the plan enforces it as a safety cap
    (use_common_options = True: we read it, so Locust does not warn it is ignored).
    """

    use_common_options = True

    def __init__(self, plan: ShapePlan | None = None):
        super().__init__()
        self.plan = plan if plan is not None else _plan_from_runtime()
        self._announced = None

    def tick(self):
        runner = self.runner
        total = runner.stats.total if runner is not None else None
        environment = getattr(runner, "environment", None)
        options = getattr(environment, "parsed_options", None)
        record = getattr(environment, "loadgate_record", None)
        cap = getattr(options, "run_time", None)
        cap = float(cap) if isinstance(cap, int | float) and cap > 0 else None
        already = self.plan.stopped_reason
        result = self.plan.tick(self.get_run_time(), total, cap, record=record)
        if result is None:
            if already is None:
                log.warning("loadgate shape stopping at %.0fs: %s", self.get_run_time(),
                            self.plan.stopped_reason)
            if record is not None:
                record.end()
            return None
        ids = control.worker_ids(runner) if runner is not None else None
        self._announce(runner, ids, record)
        if self.plan.load.open_loop:
            from loadgate.loadgen.open_loop import OpenLoopDriver  # not a name Locust collects

            drivers = len(ids) if ids else 1
            return drivers, float(drivers), [OpenLoopDriver]
        return result

    def _announce(self, runner, ids, record) -> None:
        """Each worker its control (window; rate loads: share, arrival, drain) on a change,
        and the window's start in the master's record."""
        plan, load = self.plan, self.plan.load
        per_worker = control.controls(
            window=plan.window, total_rps=plan.rps or 0.0,
            max_in_flight=load.max_in_flight or 0, arrival=load.arrival or "constant",
            drain=plan.draining, open_loop=load.open_loop, workers=len(ids) if ids else 1)
        if record is not None:
            if plan.draining:
                record.end()
            else:
                record.begin_window(plan.window)
        if runner is None or (ids, per_worker) == self._announced:
            return
        control.send(runner, per_worker, ids)
        self._announced = (ids, per_worker)
