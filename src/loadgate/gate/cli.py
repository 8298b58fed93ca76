"""`loadgate gate`: the CI gate on Locust CSVs. Exit 0 Pass, 1 Fail, 2 results unusable."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from loadgate.gate.analyze import analyze
from loadgate.gate.errors import EXIT_CODES
from loadgate.gate.report import format_verdict, write_summary_json
from loadgate.gate.results import BaselineUnusable, read_baseline
from loadgate.spec import THRESHOLD_KEYS, SpecError, Thresholds, parse, parse_thresholds


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


def load_thresholds(path: str) -> tuple[Thresholds, float | None]:
    """(thresholds, maxRegressionPct of a LoadTest's spec.baseline or None), parsed by spec:
    the file holds a bare thresholds mapping or a whole LoadTest."""
    doc = _read_doc(path, "thresholds")
    try:
        if isinstance(doc, dict) and ("spec" in doc or doc.get("kind") == "LoadTest"):
            lt = parse(doc)
            return lt.thresholds, lt.baseline.max_regression_pct if lt.baseline else None
        return parse_thresholds(doc), None
    except SpecError as e:
        raise UsageProblem(f"{path} is not a valid thresholds or LoadTest file: {e}") from None


def _flag(key) -> str:
    return "--" + key.field.replace("_", "-")


def thresholds_from_args(args) -> tuple[Thresholds, float | None]:
    """The file's thresholds with the --p95-ms ... flags over them (same rules as the file)."""
    thresholds, pct = (load_thresholds(args.thresholds) if args.thresholds
                       else (Thresholds(), None))
    given = {k: getattr(args, k.field) for k in THRESHOLD_KEYS
             if getattr(args, k.field, None) is not None}
    try:
        flags = parse_thresholds({k.key: v for k, v in given.items()}, "flags")
    except SpecError as e:
        by_key = {k.key: _flag(k) for k in given}
        raise UsageProblem("; ".join(f"{by_key[where.rsplit('.', 1)[-1]]} {msg}"
                                     for where, msg in e.errors)) from None
    return dataclasses.replace(thresholds, **{k.field: getattr(flags, k.field)
                                              for k in given}), pct


def load_baseline(path: str) -> dict:
    try:
        return read_baseline(path)
    except BaselineUnusable as e:
        raise UsageProblem(str(e)) from None


def check_not_a_runs_summary(args) -> None:
    """The gate's summary.json must not silently replace the one a `loadgate run` wrote (its
    `run` facts, notes and verdict would be lost): elsewhere, or with --force."""
    import json

    paths = ([Path(args.json)] if args.json else []) + \
        ([Path(args.out) / "summary.json"] if args.out else [])
    for path in paths:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "run" in doc and not args.force:
            raise UsageProblem(f"{path} is the summary of a loadgate run and would be replaced; "
                               "write the gate's reports elsewhere (--out DIR, --json FILE) or "
                               "pass --force")


def main(args) -> int:
    try:
        thresholds, spec_pct = thresholds_from_args(args)
        baseline = load_baseline(args.baseline) if args.baseline else None
        check_not_a_runs_summary(args)
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
    print(format_verdict(summary))  # the reason once, in the verdict block
    return EXIT_CODES[summary["verdict"]]
