"""`loadgate gate` as CI runs it: a subprocess, exit codes 0/1/2, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def gate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loadgate", "gate", *args],
                          capture_output=True, text=True, timeout=60)


def test_exit_0_pass_with_outputs(csv_copy, tmp_path):
    out = tmp_path / "out"
    r = gate("--csv-prefix", csv_copy, "--p95-ms", "5000", "--max-error-rate", "0.5",
             "--json", str(tmp_path / "s.json"), "--out", str(out), "--name", "ci")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verdict: Pass")
    assert "p95Ms" in r.stdout and "breaking point:" in r.stdout
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["name"] == "ci" and s["verdict"] == "Pass"
    assert {p.name for p in out.iterdir()} >= {"summary.json", "junit.xml", "summary.md",
                                               "timeline.png"}


def test_exit_1_fail_from_a_loadtest_file_and_baseline(csv_copy, tmp_path):
    lt = tmp_path / "lt.yaml"
    lt.write_text("apiVersion: loadgate.dev/v1alpha1\nkind: LoadTest\nmetadata: {name: x}\n"
                  "spec:\n  target: {url: 'http://127.0.0.1:1'}\n"
                  "  load: {users: 1, spawnRate: 1, runTime: 5s}\n"
                  "  thresholds: {p95Ms: 1, maxErrorRate: 0.5}\n")
    r = gate("--csv-prefix", csv_copy, "--thresholds", str(lt))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "verdict: Fail" in r.stdout and "p95Ms" in r.stdout

    th = tmp_path / "th.json"
    th.write_text(json.dumps({"p95Ms": 5000}))
    base = tmp_path / "base.json"
    r = gate("--csv-prefix", csv_copy, "--thresholds", str(th), "--json", str(base))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(base.read_text())
    doc["summary"]["rps"] *= 2  # the previous run was twice as fast
    base.write_text(json.dumps(doc))
    r = gate("--csv-prefix", csv_copy, "--thresholds", str(th), "--baseline", str(base),
             "--max-regression-pct", "10")
    assert r.returncode == 1 and "baseline.rps" in r.stdout


def test_exit_2_unusable_or_bad_input(csv_copy, tmp_path):
    Path(csv_copy + "_stats.csv").write_text(Path(csv_copy + "_stats.csv").read_text()[:-20])
    r = gate("--csv-prefix", csv_copy, "--p95-ms", "5000")
    assert r.returncode == 2
    assert r.stdout.startswith("verdict: Error\nreason:  ") and "truncated" in r.stdout
    reason = r.stdout.splitlines()[1].removeprefix("reason:  ")
    assert (r.stdout + r.stderr).count(reason) == 1, "the reason is said once"

    bad = tmp_path / "bad.yaml"
    bad.write_text("p95Ms: fast\n")
    r = gate("--csv-prefix", csv_copy, "--thresholds", str(bad))
    assert r.returncode == 2 and "p95Ms" in r.stderr
    r = gate("--csv-prefix", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "was not found" in r.stdout
    # the directory given instead of the prefix: the sentence says which prefix was meant
    r = gate("--csv-prefix", str(Path(csv_copy).parent))
    assert r.returncode == 2 and f"probably {csv_copy}." in r.stdout


def test_limit_flags_are_checked_like_the_file():
    from loadgate.cli import build_parser
    from loadgate.gate.cli import UsageProblem, thresholds_from_args

    args = build_parser().parse_args(["gate", "--csv-prefix", "x", "--p95-ms", "0",
                                      "--max-error-rate", "2", "--min-rps", "5"])
    with pytest.raises(UsageProblem) as e:
        thresholds_from_args(args)
    assert "--p95-ms must be > 0" in str(e.value) and "--max-error-rate must be <= 1" in str(e.value)
    args = build_parser().parse_args(["gate", "--csv-prefix", "x", "--min-rps", "5"])
    assert thresholds_from_args(args)[0].min_rps == 5.0


def test_a_runs_own_summary_is_not_replaced_without_force(csv_copy, tmp_path):
    """`loadgate gate --out results/smoke` once overwrote the run's summary.json (its `run`
    facts and verdict): refused unless --force; a gate summary may be replaced freely."""
    out = Path(csv_copy).parent
    run_summary = '{"name": "smoke", "verdict": "Pass", "summary": {}, "run": {"where": "local"}}'
    (out / "summary.json").write_text(run_summary)
    r = gate("--csv-prefix", csv_copy, "--p95-ms", "5000", "--out", str(out))
    assert r.returncode == 2 and (out / "summary.json").read_text() == run_summary
    assert r.stderr.strip() == (f"loadgate gate: {out / 'summary.json'} is the summary of a "
                                "loadgate run and would be replaced; write the gate's reports "
                                "elsewhere (--out DIR, --json FILE) or pass --force.")
    r = gate("--csv-prefix", csv_copy, "--p95-ms", "5000", "--json", str(out / "summary.json"))
    assert r.returncode == 2
    r = gate("--csv-prefix", csv_copy, "--p95-ms", "5000", "--out", str(out), "--force")
    assert r.returncode == 0 and "run" not in json.loads((out / "summary.json").read_text())
    r = gate("--csv-prefix", csv_copy, "--p95-ms", "5000", "--out", str(out))
    assert r.returncode == 0, "a gate's own summary is replaced without --force"
