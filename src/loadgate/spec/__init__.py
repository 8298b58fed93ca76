"""The LoadTest document: parser/validator, durations, and the config the load generator reads."""

from loadgate.spec.config import CONFIG_ENV, to_config
from loadgate.spec.durations import DurationError, format_duration, parse_duration
from loadgate.spec.manifest import document, manifest
from loadgate.spec.model import (
    API_VERSION,
    KIND,
    THRESHOLD_KEYS,
    Baseline,
    Breakpoint,
    Load,
    LoadTest,
    LocustfileRef,
    Scenario,
    Stage,
    Target,
    ThresholdKey,
    Thresholds,
    Timeouts,
)
from loadgate.spec.parser import SpecError, load_file, parse, parse_thresholds

__all__ = [
    "API_VERSION", "CONFIG_ENV", "KIND", "THRESHOLD_KEYS", "ThresholdKey", "Baseline", "Breakpoint", "DurationError", "Load",
    "LoadTest", "LocustfileRef", "Scenario", "SpecError", "Stage", "Target", "Thresholds",
    "Timeouts", "document", "format_duration", "load_file", "manifest", "parse",
    "parse_duration", "parse_thresholds", "to_config",
]
