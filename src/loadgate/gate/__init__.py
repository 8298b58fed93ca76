"""The gate: Locust CSVs -> verdict, summary.json, junit.xml, summary.md, timeline.png."""

from loadgate.gate.analyze import analyze
from loadgate.gate.errors import EXIT_CODES, ResultsUnusable

__all__ = ["EXIT_CODES", "ResultsUnusable", "analyze"]
