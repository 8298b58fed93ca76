"""`analyze()`: Locust CSVs on disk + explicit limits -> the summary.json dict, and its files.

The file-level form of `summary.judge` for `loadgate gate` (bare CSVs, no LoadTest); runs of a
LoadTest go through `summary.summarize` instead.
"""

from __future__ import annotations

from pathlib import Path

from loadgate.gate.results import read_run
from loadgate.gate.summary import judge


def analyze(name, csv_prefix, thresholds, *, baseline=None, max_regression_pct=None,
            generator=None, out_dir=None, capacity_search=False) -> dict:
    """The summary.json dict for the CSVs at `csv_prefix`; never raises for bad results
    (verdict Error). With `out_dir`, writes the reports there."""
    name = name or Path(str(csv_prefix)).parent.name or "loadtest"
    results = read_run(csv_prefix)
    summary = judge(name, results, thresholds, capacity_search=capacity_search,
                    baseline=baseline, max_regression_pct=max_regression_pct,
                    generator=generator)
    if out_dir is not None:
        from loadgate.gate.report import write_reports
        write_reports(summary, out_dir, results=results)
    return summary
