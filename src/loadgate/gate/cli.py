"""`loadgate gate`: the CI gate on Locust CSVs. Exit 0 Pass, 1 Fail, 2 results unusable."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from loadgate.gate.analyze import analyze
from loadgate.gate.errors import EXIT_CODES
from loadgate.gate.report import format_verdict, write_summary_json
from loadgate.gate.thresholds import Limits, ThresholdsError, limits_from_mapping


class UsageProblem(Exception):
    """Bad gate input (thresholds or baseline file): one sentence, exit 2."""


def _read_doc(path: str, what: str):
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise UsageProblem(f"cannot read the {what} file {path}: {e.strerror or e}") from None
    try:
        return yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as e:
        raise UsageProblem(f"the {what} file {path} is not valid YAML/JSON: "
                           f"{str(e).splitlines()[0]}") from None


def load_thresholds(path: str) -> tuple[object, float | None]:
    """(thresholds, maxRegressionPct from a LoadTest's spec.baseline or None)."""
    doc = _read_doc(path, "thresholds")
    if isinstance(doc, dict) and ("spec" in doc or doc.get("kind") == "LoadTest"):
        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
        pct = (spec.get("baseline") or {}).get("maxRegressionPct") if isinstance(
            spec.get("baseline"), dict) else None
        try:
            from loadgate.spec import SpecError, load_file
        except ImportError:  # the spec package is optional for the gate
            load_file = None
        if load_file is not None:
            try:
                lt = load_file(path)
            except SpecError as e:
                raise UsageProblem(f"{path} is not a valid LoadTest: {e}") from None
            pct = lt.baseline.max_regression_pct if lt.baseline else pct
            return lt.thresholds, pct
        try:
            return limits_from_mapping(spec.get("thresholds"), "spec.thresholds"), pct
        except ThresholdsError as e:
            raise UsageProblem(f"{path}: {e}") from None
    try:
        return limits_from_mapping(doc, "thresholds"), None
    except ThresholdsError as e:
        raise UsageProblem(f"{path}: {e}") from None


def thresholds_from_args(args) -> tuple[object, float | None]:
    thresholds, pct = (load_thresholds(args.thresholds) if args.thresholds
                       else (Limits(), None))
    overrides = {k: getattr(args, k) for k in ("p95_ms", "p99_ms", "max_error_rate", "min_rps")
                 if getattr(args, k, None) is not None}
    for k, v in overrides.items():
        if v < 0 or (k == "max_error_rate" and v > 1):
            flag = "--" + k.replace("_", "-")
            allowed = "between 0 and 1" if k == "max_error_rate" else ">= 0"
            raise UsageProblem(f"{flag} must be {allowed}, got {v:g}")
    if overrides:
        thresholds = dataclasses.replace(thresholds, **overrides)
    return thresholds, pct


def load_baseline(path: str) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise UsageProblem(f"cannot read the baseline file {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise UsageProblem(f"the baseline file {path} is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("summary"), dict):
        raise UsageProblem(f"the baseline file {path} is not a loadgate summary.json "
                           "(no 'summary' object)")
    if doc.get("verdict") == "Error" or not doc["summary"]:
        raise UsageProblem(f"the baseline file {path} is from a run whose results were unusable")
    return doc


def main(args) -> int:
    try:
        thresholds, spec_pct = thresholds_from_args(args)
        baseline = load_baseline(args.baseline) if args.baseline else None
    except UsageProblem as e:
        print(f"loadgate gate: {e}.", file=sys.stderr)
        return EXIT_CODES["Error"]
    pct = args.max_regression_pct if args.max_regression_pct is not None else spec_pct
    name = args.name or Path(args.csv_prefix).parent.name or Path(args.csv_prefix).name
    try:
        summary = analyze(name, args.csv_prefix, thresholds, baseline=baseline,
                          max_regression_pct=pct, out_dir=args.out)
        if args.json:
            write_summary_json(summary, args.json)
    except OSError as e:  # the results were read; the reports could not be written
        print(f"loadgate gate: cannot write the reports: {e}.", file=sys.stderr)
        return EXIT_CODES["Error"]
    print(format_verdict(summary))
    if summary["verdict"] == "Error":
        print(summary["reason"], file=sys.stderr)
    return EXIT_CODES[summary["verdict"]]
