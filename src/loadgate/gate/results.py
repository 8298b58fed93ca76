"""What a finished run left next to its CSV prefix, read once: Locust's CSVs (fail closed),
the generator's CPU record, the latency record (histograms; optional, the CSVs are the
fallback), and a baseline summary.json. The only file reading of the gate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from loadgate.gate.csvread import LocustResults, read_results
from loadgate.gate.errors import ResultsUnusable
from loadgate.loadgen.generator_cpu import read_record
from loadgate.loadgen.latency_record import Record
from loadgate.loadgen.latency_record import read_record as read_latency_record


@dataclass(frozen=True)
class RunResults:
    """One run's results: `locust` when the CSVs are usable, else `unusable` says why."""

    prefix: str
    locust: LocustResults | None = None
    unusable: str | None = None
    generator: dict = field(default_factory=dict)  # {"maxCpuPercent", "source"} or {}
    latency: Record | None = None     # the run's latency record (exact percentiles), if any
    latency_note: str | None = None   # why a latency record present could not be read

    @property
    def history(self):
        return self.locust.history if self.locust is not None else None

    @property
    def history_windowed(self) -> bool:
        return self.locust.history_windowed if self.locust is not None else False


def read_run(csv_prefix: str | Path) -> RunResults:
    """Never raises for bad results: unusable CSVs are recorded as such (verdict Error)."""
    prefix = str(csv_prefix)
    try:
        locust = read_results(prefix)
    except ResultsUnusable as e:
        return RunResults(prefix, unusable=str(e), generator=read_record(prefix))
    latency, note = read_latency_record(prefix)
    return RunResults(prefix, locust=locust, generator=read_record(prefix), latency=latency,
                      latency_note=note)


class BaselineUnusable(Exception):
    """A baseline file that cannot be compared against; str(e) says why."""


def read_baseline(path: str | Path) -> dict:
    """A previous run's summary.json, checked by `summary.baseline_problem`."""
    from loadgate.gate.summary import baseline_problem

    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise BaselineUnusable(f"cannot read the baseline file {path}: "
                               f"{e.strerror or e}") from None
    except ValueError as e:
        raise BaselineUnusable(f"the baseline file {path} is not JSON: {e}") from None
    problem = baseline_problem(doc)
    if problem:
        raise BaselineUnusable(f"the baseline file {path} {problem}")
    return doc
