"""`loadgate collect` (the collector Job): analyse a run's CSVs, hand the summary back.

Full reports go next to the CSVs on the PVC; a trimmed summary (< 4 KiB, the kubelet's limit
for termination messages) goes to the termination log, where the operator reads it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from loadgate.exit_codes import ERROR

MAX_MESSAGE_BYTES = 4096 - 96  # headroom under the kubelet's 4096-byte cap
KEEP = ("name", "verdict", "reason", "summary", "thresholds", "breakingPoint", "generator")


def _size(doc: dict) -> int:
    return len(json.dumps(doc, separators=(",", ":")).encode())


def trim(summary: dict, limit: int = MAX_MESSAGE_BYTES) -> dict:
    """The parts of summary.json the operator writes into .status, shrunk until under `limit`."""
    doc = {k: summary[k] for k in KEEP if k in summary}
    if _size(doc) <= limit:
        return doc
    doc.pop("generator", None)
    rows = list(doc.get("thresholds") or [])
    # failing rows explain the verdict: keep them first
    rows.sort(key=lambda r: bool(r.get("passed")) if isinstance(r, dict) else True)
    while rows and _size({**doc, "thresholds": rows}) > limit:
        rows.pop()
    doc["thresholds"] = rows
    if _size(doc) > limit and isinstance(doc.get("reason"), str):
        doc["reason"] = doc["reason"][:300] + "…"
    if _size(doc) > limit and isinstance(doc.get("breakingPoint"), dict):
        doc["breakingPoint"] = {k: v for k, v in doc["breakingPoint"].items()
                                if k in ("found", "users", "rps", "p95Ms", "atS")}
    if _size(doc) > limit:
        doc = {"name": doc.get("name"), "verdict": doc.get("verdict"),
               "reason": str(doc.get("reason"))[:300], "summary": doc.get("summary")}
    return doc


def collect(config: str, results: str, baseline: str | None = None) -> dict:
    """The run's summary from the same function `loadgate run` uses, its reports written next
    to the CSVs; returns the full summary dict."""
    from loadgate.gate.report import write_reports
    from loadgate.gate.results import read_baseline, read_run
    from loadgate.gate.summary import RunFacts, summarize
    from loadgate.spec import load_file

    lt = load_file(config)
    run = read_run(Path(results) / "locust")
    base = read_baseline(baseline) if baseline else None
    summary = summarize(lt, run, RunFacts(where="kubernetes"), baseline=base)
    write_reports(summary, results, results=run)
    return summary


def main(args) -> int:
    from loadgate.gate.summary import error_summary

    try:
        summary = collect(args.config, args.results, args.baseline)
    except Exception as e:  # unusable config or baseline: still hand back a verdict, never hang
        summary = error_summary(Path(args.results).name or "loadtest",
                                f"the collector could not analyse the run: {e}")
    message = json.dumps(trim(summary), separators=(",", ":"))
    print(json.dumps(summary, indent=2, default=str))
    try:
        Path(args.termination_log).write_text(message)
    except OSError as e:
        print(f"loadgate collect: cannot write {args.termination_log}: {e}", file=sys.stderr)
        return ERROR
    return 0
