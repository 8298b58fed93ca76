"""One LoadTestShape for `stages` and `breakpoint` loads, driven by the run's LoadTest.

Modelled on Locust's examples/custom_shape/stages.py, with the plan as data (spec.load), not
code; the logic is `loadgate.loadgen.plan.ShapePlan`. Locust runs shapes on the master only:
add this file with `-f locustfile.py,shape.py`. A breakpoint run stops early once the SLO is
broken for a whole step and logs why.
"""

from __future__ import annotations

import logging

from locust import LoadTestShape

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

    def tick(self):
        runner = self.runner
        total = runner.stats.total if runner is not None else None
        options = getattr(getattr(runner, "environment", None), "parsed_options", None)
        cap = getattr(options, "run_time", None)
        cap = float(cap) if isinstance(cap, int | float) and cap > 0 else None
        already = self.plan.stopped_reason
        result = self.plan.tick(self.get_run_time(), total, cap)
        if result is None and already is None:
            log.warning("loadgate shape stopping at %.0fs: %s", self.get_run_time(),
                        self.plan.stopped_reason)
        return result
