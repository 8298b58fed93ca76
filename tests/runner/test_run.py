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
import threading
import time
from pathlib import Path

import pytest
from support import known_capacity
from support.loadtests import write_loadtest as _write_loadtest
from support.locust_runs import REPO, loadgate_run, summary_of
from support.servers import free_port

DESIGN_FILES = ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv",
                "locust_exceptions.csv", "report.html", "summary.json", "junit.xml",
                "summary.md", "timeline.png")
SUMMARY_KEYS = {"requests", "failures", "errorRate", "rps", "p50Ms", "p95Ms", "p99Ms",
                "maxUsers", "durationS"}


def write_loadtest(path: Path, name: str, url: str, load: dict, **spec) -> Path:
    """This module's LoadTest file: one worker, the target given 60 s to get ready."""
    target = {"readyTimeout": "60s", **spec.pop("target", {})}
    return _write_loadtest(path, name, url=url, target=target, load=load, workers=1, **spec)


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


@pytest.mark.parametrize("argv", [["--run-time", "-5s"], ["--users", "abc"], ["--users"],
                                  ["--no-such-flag"], ["--out", "{file}"],
                                  ["--out", "/proc/loadgate-out"]])
def test_bad_command_lines_exit_3_with_one_sentence(tmp_path, argv):
    """What argparse or a traceback used to answer (exit 2 or 1): the documented code for a bad
    LoadTest file or override is 3."""
    f = write_loadtest(tmp_path, "ok", "http://127.0.0.1:9",
                       {"users": 1, "spawnRate": 1, "runTime": "5s"})
    r = loadgate_run(str(f), *[a.format(file=f) for a in argv], cwd=tmp_path)
    assert r.returncode == 3
    assert "Traceback" not in r.stdout + r.stderr
    said = {"-5s": "spec.load.runTime: invalid duration '-5s'",
            "abc": "spec.load.users: must be an integer, not 'abc'",
            "--users": "argument --users: expected one argument",
            "--no-such-flag": "unrecognized arguments: --no-such-flag",
            "{file}": f"cannot write the results to {f.name}: File exists",
            "/proc/loadgate-out": "cannot write the results to /proc/loadgate-out"}[argv[-1]]
    assert said in r.stdout + r.stderr


def test_an_invalid_run_with_out_still_writes_its_verdict(tmp_path):
    """CI reads junit.xml whatever happened: with --out, Invalid leaves its reports there."""
    f = write_loadtest(tmp_path, "bad", "http://127.0.0.1:9", {"users": 0, "runTime": "5s"})
    out = tmp_path / "ci"
    r = loadgate_run(str(f), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 3
    s = summary_of(out)
    assert s["verdict"] == "Invalid" and "spec.load.users: must be >= 1" in s["reason"]
    junit = (out / "junit.xml").read_text()
    assert 'errors="1"' in junit and 'type="InvalidLoadTest"' in junit
    assert "Verdict: INVALID" in (out / "summary.md").read_text()


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


def test_a_model_that_cannot_load_ends_the_wait_at_once(tmp_path):
    """The server answers /health {"status": "failed"}: no waiting out readyTimeout (5m)."""
    f = write_loadtest(tmp_path, "noload", "http://model-server:8000",
                       {"users": 1, "spawnRate": 1, "runTime": "5s"},
                       target={"readyTimeout": "5m"})
    t0 = time.monotonic()
    r = loadgate_run(str(f), "--serve", "--target", f"http://127.0.0.1:{free_port()}",
                     cwd=tmp_path, env={"LOADGATE_MODEL_NAME": str(tmp_path / "no-such-model")})
    assert r.returncode == 2
    assert time.monotonic() - t0 < 90, "waited instead of stopping on the failure"
    reason = summary_of(tmp_path / "results" / "noload")["reason"]
    assert "will not become ready" in reason and "HTTP 503 failed" in reason
    assert "no-such-model" in reason


def test_a_served_server_that_exits_ends_the_wait_with_its_last_words(tmp_path):
    f = write_loadtest(tmp_path, "exits", "http://model-server:8000",
                       {"users": 1, "spawnRate": 1, "runTime": "5s"},
                       target={"readyTimeout": "5m"})
    r = loadgate_run(str(f), "--serve", "--target", f"http://127.0.0.1:{free_port()}",
                     cwd=tmp_path, env={"LOADGATE_MAX_QUEUE": "zero"})
    assert r.returncode == 2
    reason = summary_of(tmp_path / "results" / "exits")["reason"]
    assert "the local model server exited with code 1 before it was ready" in reason
    assert "LOADGATE_MAX_QUEUE" in reason and "errors.pydantic.dev" not in reason
    assert "serve: the model server had already exited (code 1)" in r.stdout
    assert "stopping the model server" not in r.stdout  # there was none left to stop
    assert r.stdout.index("already exited") < r.stdout.index("verdict: Error")


def test_an_unresolvable_cluster_host_hints_serve_or_target(tmp_path):
    """A profile's cluster Service name run without --serve/--target: one hint after the
    first DNS failure; --ready-timeout shortens the wait."""
    f = write_loadtest(tmp_path, "cluster", "http://model-server.invalid:8000",
                       {"users": 1, "spawnRate": 1, "runTime": "5s"})
    t0 = time.monotonic()
    r = loadgate_run(str(f), "--ready-timeout", "2s", cwd=tmp_path)
    assert r.returncode == 2 and time.monotonic() - t0 < 30
    assert r.stdout.count("add --serve") == 1, r.stdout
    assert "model-server.invalid does not resolve" in r.stdout
    assert "was not ready after 2s" in r.stdout


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
    # server.log holds the server's own info lines (not the access log)
    server_log = (out / "server.log").read_text()
    assert "Application startup complete" in server_log
    assert "ready in" in server_log and "batching=True" in server_log, server_log
    assert "POST /embed" not in server_log
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


STALE = {"locust_generator.json": '{"maxCpuPercent": 99.0, "samples": 9}',
         "locust_latency.json": "{}", "locust-worker-7.log": "old", "summary.json": "{}",
         "timeline.png": "old", "report.html": "old"}


def test_a_trailing_slash_target_sends_the_load_into_a_fresh_directory(tmp_path,
                                                                        capacity_50rps):
    """`--target http://127.0.0.1:PORT/`: health check, Locust's --host and the request paths
    are joined with one slash, so the load reaches the target (it once went to //embed).
    The --out directory holds an earlier run's files, among them a generator record at 99%
    that would make this run Invalid: every file a run owns is removed before it starts."""
    f = write_loadtest(tmp_path, "slash", "http://model-server:8000",
                       {"users": 2, "spawnRate": 2, "runTime": "2s", "stopTimeout": "1s"},
                       thresholds={"maxErrorRate": 0.0})
    out = tmp_path / "out"
    out.mkdir()
    for name, text in STALE.items():
        (out / name).write_text(text)
    (out / "mine.txt").write_text("not loadgate's")
    r = loadgate_run(str(f), "--target", capacity_50rps + "/", "--out", str(out), cwd=tmp_path)
    s = summary_of(out)
    assert r.returncode == 0, s["reason"]
    assert s["summary"]["requests"] > 0 and s["summary"]["failures"] == 0
    assert s["exceptions"] == 0
    assert {e["name"] for e in s["endpoints"]} >= {"/embed [single]"}
    # 2 s of load leave no CPU record of their own (or a fresh one): never the stale 99%
    assert s["generator"]["maxCpuPercent"] != 99.0 and s["verdict"] == "Pass"
    for name in ("locust_generator.json", "locust_latency.json", "locust-worker-7.log"):
        # gone, or this run's own (a run writes its latency record whatever its length)
        assert not (out / name).exists() or (out / name).read_text() != STALE[name], name
    assert (out / "report.html").read_text() != "old" and (out / "mine.txt").exists()


def signalled_run(f: Path, out: Path, steps: list[tuple[str, signal.Signals]],
                  env: dict | None = None) -> tuple[int, str]:
    """`loadgate run f` stopped as a terminal or CI would: each time a line with the next
    step's text appears, send its signal to the runner. Returns (exit code, output)."""
    proc = subprocess.Popen([sys.executable, "-m", "loadgate", "run", str(f), "--out", str(out)],
                            cwd=f.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src"),
                                            **(env or {})})
    watchdog = threading.Timer(150, proc.kill)  # bounded even if a line never shows up
    watchdog.start()
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if steps and steps[0][0] in line:
                proc.send_signal(steps.pop(0)[1])
        proc.wait(30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    print(output)
    assert not steps, f"never saw {steps[0][0]!r}"
    return proc.returncode, output


def assert_complete_csvs(out: Path) -> None:
    stats = (out / "locust_stats.csv").read_text()
    assert stats.endswith("\n") and "\n,Aggregated," in stats
    assert (out / "locust_stats_history.csv").read_text().endswith("\n")
    assert (out / "report.html").stat().st_size > 0


def test_sigterm_mid_breakpoint_run_is_never_a_pass(tmp_path, capacity_50rps):
    """A CI `timeout` SIGTERMs a breakpoint run whose SLO held so far: complete CSVs (the
    runner stops Locust with SIGINT: Locust 2.x dies on SIGTERM during a shape run), but
    verdict Error, not Pass, and every report says the run was interrupted."""
    f = write_loadtest(tmp_path, "cut", capacity_50rps,
                       {"breakpoint": {"startUsers": 3, "stepUsers": 1, "stepDuration": "1m",
                                       "maxUsers": 5}, "stopTimeout": "2s"},
                       thresholds={"p95Ms": 1000, "maxErrorRate": 0.5, "minRps": 1})
    out = tmp_path / "out"
    t0 = time.monotonic()
    code, output = signalled_run(f, out, [("users 3", signal.SIGTERM)])
    assert time.monotonic() - t0 < 100, "stopped long before the planned 3 minutes"
    assert code == 2, "interrupted: Error, never Pass"
    assert_complete_csvs(out)
    s = summary_of(out)
    assert s["verdict"] == "Error" and s["summary"]["requests"] > 0
    assert s["reason"].startswith("The run was interrupted after ")
    assert "an interrupted run is never a Pass (until then: all " in s["reason"]
    assert s["run"]["interrupted"] is True and s["run"]["locustExitCode"] == 0
    junit = (out / "junit.xml").read_text()
    assert 'name="run completed"' in junit and 'type="RunInterrupted"' in junit
    assert "ResultsUnusable" not in junit  # the results were fine; the run was cut short
    assert "interrupted" in (out / "summary.md").read_text()
    assert "stopping: SIGINT to the Locust master" in output and "verdict: Error" in output


def test_ctrl_c_twice_waits_for_the_clean_stop(tmp_path):
    """The second Ctrl-C arrives while the master is still stopping (users in a 1 s request
    each, no think time): it must not reach Locust (a second SIGINT kills the master before
    its final CSVs); the runner says it waits, and the results stay complete."""
    with known_capacity.running(service_ms=1000) as slow:
        f = write_loadtest(tmp_path, "twice", slow,
                           {"stages": [{"duration": "2m", "users": 3, "spawnRate": 3}],
                            "stopTimeout": "10s"},
                           thresholds={"maxErrorRate": 0.5})
        out = tmp_path / "out"
        code, output = signalled_run(f, out, [("users 3", signal.SIGINT),
                                              ("stopping: SIGINT", signal.SIGINT)],
                                     env={"LOADGATE_WAIT_TIME_S": "0,0"})
    assert "already stopping: waiting for the Locust master's final statistics" in output
    assert code == 2
    assert_complete_csvs(out)
    s = summary_of(out)
    assert s["run"]["locustExitCode"] == 0, "the master was killed"
    assert s["verdict"] == "Error" and "interrupted" in s["reason"]


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
