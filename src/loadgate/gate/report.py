"""Reports of a summary: the terminal verdict block, junit.xml, summary.md, and the files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from loadgate.analysis import breaking_point_sentence
from loadgate.numbers import fmt


def _limit_text(row: dict) -> str:
    return f"{'<=' if row.get('kind', 'max') == 'max' else '>='} {fmt(row['limit'])}"


def _load_text(s: dict) -> str:
    """What load ran: users, or for rate loads what was offered, achieved and dropped."""
    if s.get("openLoop"):
        return (f"offered {fmt(s.get('offeredRps'))} req/s, achieved "
                f"{fmt(s.get('achievedRps'))} req/s, {s.get('dropped', 0)} dropped "
                f"({s.get('droppedRate', 0.0):.2%})")
    return f"up to {s['maxUsers']} users"


def format_verdict(summary: dict) -> str:
    """The short block printed by `loadgate gate` and `loadgate run`."""
    lines = [f"verdict: {summary['verdict']}", f"reason:  {summary['reason']}"]
    rows = summary.get("thresholds") or []
    if rows:
        width = max(len(r["metric"]) for r in rows)
        lines.append("thresholds:")
        for r in rows:
            lines.append(f"  {r['metric']:<{width}}  observed {fmt(r['observed']):>8}  "
                         f"limit {_limit_text(r):<10}  {'ok' if r['passed'] else 'FAILED'}")
    s = summary.get("summary") or {}
    if s:
        lines.append(f"measured: {s['requests']} requests, {s['errorRate']:.2%} errors, "
                     f"{fmt(s['rps'])} req/s, p50 {fmt(s['p50Ms'])} ms, "
                     f"p95 {fmt(s['p95Ms'])} ms, p99 {fmt(s['p99Ms'])} ms, {_load_text(s)}")
    if summary.get("verdict") != "Error":
        lines.append("breaking point: " + breaking_point_sentence(summary.get("breakingPoint")
                                                                    or {}))
    if summary.get("drift"):
        d = summary["drift"]
        lines.append(f"drift: p95 {fmt(d['firstMinuteP95Ms'])} ms in the first minute, "
                     f"{fmt(d['lastMinuteP95Ms'])} ms in the last ({d['changePct']:+.1f}%)")
    return "\n".join(lines)


def _run_errors(summary: dict) -> list[tuple[str, str, str]]:
    """(testcase, error type, message) for what kept the run from a full verdict, so a CI
    test report says why: interrupted, results unusable, or a LoadTest that could not run."""
    out = []
    run = summary.get("run") or {}
    if run.get("interrupted"):
        out.append(("run completed", "RunInterrupted",
                    f"The run was interrupted after {fmt(run.get('durationS'))}s, before its "
                    "plan ended: an interrupted run is never a Pass."))
    if summary["verdict"] == "Error" and not summary.get("summary"):
        out.append(("results usable", "ResultsUnusable", summary["reason"]))
    if summary["verdict"] == "Invalid" and not summary.get("thresholds"):
        out.append(("loadtest valid", "InvalidLoadTest", summary["reason"]))
    return out


def junit_xml(summary: dict) -> str:
    """One testcase per threshold row, a <failure> on each breach; Error -> one <error>."""
    name = summary.get("name", "loadtest")
    rows = summary.get("thresholds") or []
    duration = (summary.get("summary") or {}).get("durationS", 0.0)
    suites = ET.Element("testsuites", name="loadgate")
    suite = ET.SubElement(suites, "testsuite", name=f"loadgate.{name}", time=f"{duration}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="verdict", value=summary["verdict"])
    ET.SubElement(props, "property", name="reason", value=summary["reason"])
    failures = errors = 0
    for case_name, kind, message in _run_errors(summary):
        case = ET.SubElement(suite, "testcase", classname=f"loadgate.{name}",
                             name=case_name, time="0")
        ET.SubElement(case, "error", message=message, type=kind).text = message
        errors += 1
    for r in rows:
        case = ET.SubElement(suite, "testcase", classname=f"loadgate.{name}",
                             name=r["metric"], time="0")
        text = f"observed {fmt(r['observed'])}, limit {_limit_text(r)}"
        if not r["passed"]:
            failures += 1
            ET.SubElement(case, "failure", message=text, type="ThresholdBreached").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    n = len(rows) + errors
    for el in (suites, suite):
        el.set("tests", str(n))
        el.set("failures", str(failures))
        el.set("errors", str(errors))
    suite.set("skipped", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _md_cell(v) -> str:
    return fmt(v).replace("|", "\\|")


def summary_markdown(summary: dict) -> str:
    """A GitHub job summary: verdict line, thresholds, endpoints, breaking point."""
    out = [f"## loadgate: {summary.get('name', '')}", "",
           f"**Verdict: {summary['verdict'].upper()}** - {summary['reason']}", ""]
    rows = summary.get("thresholds") or []
    if rows:
        out += ["| threshold | observed | limit | result |", "|---|---:|---:|---|"]
        out += [f"| {_md_cell(r['metric'])} | {_md_cell(r['observed'])} | "
                f"{_md_cell(_limit_text(r))} | {'pass' if r['passed'] else '**FAIL**'} |"
                for r in rows]
        out.append("")
    s = summary.get("summary") or {}
    if s:
        out += [f"{s['requests']} requests, {s['failures']} failures "
                f"({s['errorRate']:.2%}), {fmt(s['rps'])} req/s, p50 {fmt(s['p50Ms'])} ms, "
                f"p95 {fmt(s['p95Ms'])} ms, p99 {fmt(s['p99Ms'])} ms, {_load_text(s)} "
                f"over {fmt(s['durationS'])} s.", ""]
    eps = summary.get("endpoints") or []
    if eps:
        out += ["### Endpoints", "", "| method | name | requests | req/s | p50 ms | p95 ms | "
                "p99 ms | errors |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        out += [f"| {e['method']} | {_md_cell(e['name'])} | {e['requests']} | {_md_cell(e['rps'])}"
                f" | {_md_cell(e.get('p50Ms'))} | {_md_cell(e['p95Ms'])} | "
                f"{_md_cell(e.get('p99Ms'))} | {e['errorRate']:.2%} |" for e in eps]
        out.append("")
    if summary["verdict"] != "Error":
        out += ["### Breaking point", "",
                breaking_point_sentence(summary.get("breakingPoint") or {}), ""]
    if summary.get("drift"):
        d = summary["drift"]
        out += [f"Latency drift: p95 {fmt(d['firstMinuteP95Ms'])} ms in the first minute, "
                f"{fmt(d['lastMinuteP95Ms'])} ms in the last ({d['changePct']:+.1f}%).", ""]
    for note in summary.get("notes") or []:
        out += [f"Note: {note}", ""]
    return "\n".join(out)


def write_summary_json(summary: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def write_reports(summary: dict, out_dir: str | Path, *, results=None) -> Path:
    """summary.json, junit.xml, summary.md and (when `results` has a history) timeline.png in
    out_dir: every report of a run, written once."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if results is not None and results.history:
        from loadgate.analysis import write_timeline

        write_timeline(results.history, out / "timeline.png", summary.get("breakingPoint"),
                       title=f"{summary.get('name', '')}: {summary['verdict']}",
                       windowed=results.history_windowed, windows=summary.get("windows"))
    write_summary_json(summary, out / "summary.json")
    (out / "junit.xml").write_text(junit_xml(summary))
    (out / "summary.md").write_text(summary_markdown(summary))
    return out
