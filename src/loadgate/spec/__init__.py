"""The LoadTest document: model, parser/validator, durations, manifests and the runtime form.

Standard library only (YAML is imported lazily by `load_file`): every Locust process, the
collector and the operator import this.
"""

from loadgate.spec.durations import DurationError, format_duration, parse_duration
from loadgate.spec.manifest import capped, document, manifest, override, rate_override
from loadgate.spec.model import (
    API_VERSION,
    ARRIVALS,
    DEADLINE_MARGIN_S,
    KIND,
    THRESHOLD_KEYS,
    Baseline,
    Breakpoint,
    Load,
    LoadTest,
    LocustfileRef,
    PlanWindow,
    Rate,
    RateBreakpoint,
    RateStage,
    Scenario,
    Stage,
    Target,
    ThresholdKey,
    Thresholds,
    Timeouts,
    minimum_deadline_s,
)
from loadgate.spec.parser import SpecError, load_file, parse, parse_thresholds
from loadgate.spec.runtime import (
    CONFIG_ENV,
    RUNTIME_FILE,
    read_runtime,
    runtime_json,
    write_runtime,
)

__all__ = [
    "API_VERSION", "CONFIG_ENV", "DEADLINE_MARGIN_S", "KIND", "RUNTIME_FILE", "THRESHOLD_KEYS", "Baseline",
    "Breakpoint", "DurationError", "Load", "LoadTest", "LocustfileRef", "Scenario", "SpecError",
    "Stage", "Target", "ThresholdKey", "Thresholds", "Timeouts", "capped", "document",
    "format_duration", "load_file", "manifest", "minimum_deadline_s", "override", "parse",
    "parse_duration", "parse_thresholds",
    "read_runtime", "runtime_json", "write_runtime",
    # rate loads (open loop)
    "ARRIVALS", "PlanWindow", "Rate", "RateBreakpoint", "RateStage", "rate_override",
]
