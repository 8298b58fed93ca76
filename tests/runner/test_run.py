"""`loadgate run` end to end: real processes, real Locust over loopback, real CSVs.

Targets: the real model server (`--serve`, once), and support.known_capacity, whose capacity
is exactly 1000 / service_ms requests per second.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import known_capacity
from support.loadtests import write_loadtest as _write_loadtest
from support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
DESIGN_FILES = ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                "locust_exceptions.csv", "report.html", "summary.json", "junit.xml",
                "summary.md", "timeline.png")
SUMMARY_KEYS = {"requests", "failures", "errorRate", "rps", "p50Ms", "p95Ms", "p99Ms",
                "maxUsers", "durationS"}


def write_loadtest(path: Path, name: str, url: str, load: dict, **spec) -> Path:
    """This module's LoadTest file: one worker, the target given 60 s to get ready."""
    target = {"readyTimeout": "60s", **spec.pop("target", {})}
    return _write_loadtest(path, name, url=url, target=target, load=load, workers=1, **spec)


def loadgate_run(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "loadgate", "run", *argv], cwd=cwd,
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    print(r.stdout, r.stderr, sep="\n")  # shown by pytest when the test fails
    return r


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def capacity_50rps():
    """One known-capacity server for the module: one request at a time, 20 ms each."""
    with known_capacity.running(service_ms=20) as base:
        yield base


# --- bad input and unreachable targets: fast, no load -----------------------------------

def test_invalid_spec_exits_3_naming_the_field(tmp_path):
    f = write_loadtest(tmp_path, "bad", "http://127.0.0.1:9", {"users": -1, "spawnRate": 1,
                                                               "runTime": "3x"})
    r = loadgate_run(str(f), cwd=tmp_path)
    assert r.returncode == 3
    assert "spec.load.users" in r.stdout and "spec.load.runTime" in r.stdout
    assert not (tmp_path / "results").exists(), "nothing written for a spec that never ran"


def test_bad_override_and_missing_file_exit_3(tmp_path):
    f = write_loadtest(tmp_path, "ok", "http://127.0.0.1:9",
                       {"users": 1, "spawnRate": 1, "runTime": "5s"})
    r = loadgate_run(str(f), "--run-time", "3x", cwd=tmp_path)
    assert r.returncode == 3
    assert "spec.load.runTime" in r.stdout and "--run-time" in r.stdout
    r = loadgate_run(str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert r.returncode == 3 and "nope.yaml" in r.stdout


def test_deadline_shorter_than_the_run_exits_3(tmp_path):
    f = write_loadtest(tmp_path, "late", "http://127.0.0.1:9",
                       {"users": 1, "spawnRate": 1, "runTime": "5m"},
                       timeouts={"deadline": "5m"})
    r = loadgate_run(str(f), cwd=tmp_path)
    assert r.returncode == 3
    assert "spec.timeouts.deadline: must be at least 8m10s" in r.stdout


def test_target_never_ready_exits_2_with_the_reason(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    f = write_loadtest(tmp_path, "down", url, {"users": 1, "spawnRate": 1, "runTime": "5s"},
                       target={"readyTimeout": "3s"})
    r = loadgate_run(str(f), cwd=tmp_path)
    assert r.returncode == 2
    assert f"The target {url}/health was not ready after 3s" in r.stdout
    out = tmp_path / "results" / "down"
    s = summary_of(out)
    assert s["verdict"] == "Error" and "not ready" in s["reason"]
    assert "<error" in (out / "junit.xml").read_text()


def test_serve_on_a_taken_port_says_so(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        f = write_loadtest(tmp_path, "taken", "http://model-server:8000",
                           {"users": 1, "spawnRate": 1, "runTime": "5s"})
        r = loadgate_run(str(f), "--serve", "--target", f"http://127.0.0.1:{port}",
                         cwd=tmp_path)
    assert r.returncode == 2
    assert f"port {port} on 127.0.0.1 is already taken" in r.stdout


# --- real runs ------------------------------------------------------------------------------

def test_serve_end_to_end_against_the_model_server(tmp_path):
    """--serve starts the real model server, the real locustfile loads it, every file lands."""
    port = free_port()
    f = write_loadtest(tmp_path, "e2e", "http://model-server:8000",
                       {"users": 4, "spawnRate": 4, "runTime": "10s", "stopTimeout": "5s"},
                       thresholds={"p95Ms": 20000, "maxErrorRate": 0.05},
                       target={"readyTimeout": "120s"})
    out = tmp_path / "out"
    r = loadgate_run(str(f), "--serve", "--target", f"http://127.0.0.1:{port}",
                     "--workers", "1", "--out", str(out), cwd=tmp_path, timeout=240)
    assert r.returncode == 0, "expected a Pass with generous thresholds"
    for name in DESIGN_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    s = summary_of(out)
    assert s["name"] == "e2e" and s["verdict"] == "Pass"
    assert {"verdict", "reason", "summary", "endpoints", "thresholds", "breakingPoint",
            "generator"} <= s.keys()
    assert SUMMARY_KEYS <= s["summary"].keys()
    assert s["summary"]["requests"] > 0 and s["summary"]["failures"] == 0
    names = {e["name"] for e in s["endpoints"]}
    assert len(names) >= 2, names  # single / batch / health are reported apart
    assert s["generator"]["workers"] == 1 and 0 < s["generator"]["maxCpuPercent"] <= 100
    assert {t["metric"] for t in s["thresholds"]} >= {"p95Ms", "errorRate"}
    assert "found" in s["breakingPoint"]
    # the progress lines and the verdict block are shown; Locust's own chatter is in the log
    assert "users" in r.stdout and "rps" in r.stdout
    assert "verdict: Pass" in r.stdout and "breaking point:" in r.stdout
    assert "Starting Locust" not in r.stdout and "Starting Locust" in (out / "locust.log").read_text()
    # and the server it started is gone again
    with socket.socket() as s2, pytest.raises(ConnectionRefusedError):
        s2.connect(("127.0.0.1", port))


def test_failing_threshold_exits_1(tmp_path, capacity_50rps):
    f = write_loadtest(tmp_path, "strict", capacity_50rps,
                       {"users": 2, "spawnRate": 2, "runTime": "5s", "stopTimeout": "2s"},
                       thresholds={"p95Ms": 1})  # a 20 ms service can never answer in 1 ms
    out = tmp_path / "out"
    r = loadgate_run(str(f), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 1
    s = summary_of(out)
    assert s["verdict"] == "Fail"
    row = next(t for t in s["thresholds"] if t["metric"] == "p95Ms")
    assert row["passed"] is False and row["observed"] >= 20
    assert "verdict: Fail" in r.stdout and "FAILED" in r.stdout


def test_sigterm_mid_run_still_gives_complete_csvs_and_a_verdict(tmp_path, capacity_50rps):
    # a stages (LoadTestShape) run: Locust 2.x dies on SIGTERM there, so the runner must stop it
    # with SIGINT to get final CSVs and the HTML report
    f = write_loadtest(tmp_path, "cut", capacity_50rps,
                       {"stages": [{"duration": "2m", "users": 3, "spawnRate": 3}],
                        "stopTimeout": "2s"},
                       thresholds={"maxErrorRate": 0.5})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "loadgate", "run", str(f), "--out", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    lines: list[str] = []
    t0 = time.monotonic()
    try:
        # wait for a progress line showing users at work, then stop the runner as CI would
        for line in proc.stdout:
            lines.append(line)
            if "users 3" in line or time.monotonic() - t0 > 60:
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    lines.append(rest)
    output = "".join(lines)
    print(output)
    assert time.monotonic() - t0 < 100, "stopped long before the planned 2 minutes"
    assert proc.returncode in (0, 1), "a verdict (Pass or Fail), not an error"
    stats = (out / "locust_stats.csv").read_text()
    assert stats.endswith("\n") and "\n,Aggregated," in stats
    assert (out / "locust_stats_history.csv").read_text().endswith("\n")
    assert (out / "report.html").stat().st_size > 0
    s = summary_of(out)
    assert s["verdict"] in ("Pass", "Fail") and s["summary"]["requests"] > 0
    assert s["run"]["interrupted"] is True and s["run"]["durationS"] < 100
    assert "stopping: SIGINT to the Locust master" in output
    assert "verdict:" in output


def test_breakpoint_stops_early_at_the_known_capacity(tmp_path):
    """One request at a time x 50 ms = 20 req/s; stepping users up must find that and stop."""
    with known_capacity.running(service_ms=50) as base:
        f = write_loadtest(tmp_path, "bp", base,
                           {"breakpoint": {"startUsers": 15, "stepUsers": 5,
                                           "stepDuration": "6s", "maxUsers": 100},
                            "stopTimeout": "2s"},
                           # think time 0.5-1.5 s: ~1 req/s per user, so ~20 users saturate it;
                           # past that the queue adds (users / 20 - 1) s, over the SLO near 40
                           # a breakpoint run's gate is its capacity: 20 req/s >= minRps 15
                           thresholds={"p95Ms": 1000, "maxErrorRate": 0.01, "minRps": 15})
        out = tmp_path / "out"
        r = loadgate_run(str(f), "--out", str(out), cwd=tmp_path, timeout=240)
    s = summary_of(out)
    assert r.returncode == 0, (s["reason"], s["thresholds"])
    assert s["gate"] == "capacity"
    assert [(t["metric"], t["limit"], t["passed"]) for t in s["thresholds"]
            if t["metric"] != "generator.maxCpuPercent"] == [("breakingPoint.rps", 15.0, True)]
    bp = s["breakingPoint"]
    assert bp["found"] is True, bp
    assert abs(bp["rps"] - 20) <= 2, f"breaking point {bp['rps']} req/s, capacity 20"
    planned = 18 * 6  # 18 steps of 6 s up to 100 users
    assert s["run"]["durationS"] < planned * 0.75, "the breakpoint profile stopped early"
    assert s["summary"]["maxUsers"] < 100
    assert "breaking point: Broke at" in r.stdout


USER_LOCUSTFILE = '''
from locust import FastHttpUser, constant, task

class Mine(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def custom(self):
        self.client.get("/health", name="custom health")
'''


def test_spec_locustfile_is_read_from_next_to_the_loadtest(tmp_path, capacity_50rps):
    f = write_loadtest(tmp_path, "mine", capacity_50rps,
                       {"users": 2, "spawnRate": 2, "runTime": "4s", "stopTimeout": "1s"},
                       locustfile={"configMapRef": {"name": "mine", "key": "my_locustfile.py"}})
    r = loadgate_run(str(f), "--out", str(tmp_path / "missing"), cwd=tmp_path)
    assert r.returncode == 3
    assert "only exists in a cluster" in r.stdout and "my_locustfile.py" in r.stdout
    (tmp_path / "my_locustfile.py").write_text(USER_LOCUSTFILE)
    out = tmp_path / "out"
    r = loadgate_run(str(f), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0
    assert [e["name"] for e in summary_of(out)["endpoints"]] == ["custom health"]


def test_run_and_collect_give_the_same_summary(tmp_path, capacity_50rps):
    """`loadgate run` and the Kubernetes collector call the one summary function: the same CSVs
    and LoadTest give the same summary.json and summary.md, but for `run` (where it ran)."""
    prev = tmp_path / "results" / "prev"
    prev.mkdir(parents=True)
    (prev / "summary.json").write_text(json.dumps({  # a baseline whose capacity was 60 req/s
        "name": "prev", "verdict": "Pass", "summary": {"requests": 900, "rps": 20.0},
        "breakingPoint": {"found": True, "rps": 60.0}}))
    # a capacity search (its gate comes from the load mode) with a baseline (its limit from
    # spec.baseline): the inputs both callers used to work out on their own
    f = write_loadtest(tmp_path, "same", capacity_50rps,
                       {"breakpoint": {"startUsers": 2, "stepUsers": 2, "stepDuration": "3s",
                                       "maxUsers": 4}, "stopTimeout": "1s"},
                       thresholds={"p95Ms": 1000, "maxErrorRate": 0.01, "minRps": 1},
                       baseline={"loadTestRef": "prev", "maxRegressionPct": 95})
    out = tmp_path / "results" / "same"
    r = loadgate_run(str(f), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stdout
    pvc = tmp_path / "pvc"  # what the collector Job finds on the results volume
    pvc.mkdir()
    for p in out.glob("locust_*"):
        (pvc / p.name).write_bytes(p.read_bytes())
    c = subprocess.run([sys.executable, "-m", "loadgate", "collect", "--config",
                        str(out / "loadtest.json"), "--results", str(pvc), "--baseline",
                        str(prev / "summary.json"), "--termination-log", str(pvc / "message")],
                       capture_output=True, text=True, timeout=120)
    assert c.returncode == 0, c.stderr
    local, k8s = summary_of(out), summary_of(pvc)
    assert local.pop("run")["where"] == "local" and k8s.pop("run")["where"] == "kubernetes"
    assert local == k8s
    assert (out / "summary.md").read_text() == (pvc / "summary.md").read_text()
    # ...and they hold what was derived: capacity gate, baseline row, the generator's own CPU
    assert local["gate"] == "capacity" and local["generator"]["workers"] == 1
    assert {t["metric"] for t in local["thresholds"]} >= {"breakingPoint.rps",
                                                          "baseline.breakingPoint.rps"}
    assert isinstance(local["generator"]["maxCpuPercent"], float)
