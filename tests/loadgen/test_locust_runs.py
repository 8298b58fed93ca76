"""Real short Locust runs of the built-in locustfile over 127.0.0.1.

- master + worker (argv from command.py) with the stages shape against the real model server:
  the three request names, requests, zero failures;
- a deliberately wrong server (200 with a wrong count or dimension): failures counted;
- the breakpoint shape against a server of known capacity: it stops early, at the knee.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import known_capacity
from support.loadtests import loadtest_doc
from support.servers import free_port

from loadgate import spec
from loadgate.loadgen import LOCUSTFILE, SHAPE_FILE
from loadgate.loadgen.command import master_args, worker_args
from loadgate.loadgen.think_time import WAIT_TIME_ENV

pytestmark = pytest.mark.slow
LOCUST = [sys.executable, "-m", "locust"]
NAMES = {"/embed [single]", "/embed [batch]", "/health"}


def loadtest(url: str, load: dict, **extra) -> spec.LoadTest:
    return spec.parse(loadtest_doc("t", url=url, load=load, **extra))


def write_config(tmp_path: Path, lt, wait_time_s: str | None = None) -> dict[str, str]:
    """The run's environment: LOADGATE_CONFIG naming the LoadTest's runtime file, and the
    users' think time (a knob outside the spec) when given as "min,max" seconds."""
    env = {**os.environ, spec.CONFIG_ENV: str(spec.write_runtime(lt, tmp_path))}
    if wait_time_s is not None:
        env[WAIT_TIME_ENV] = wait_time_s
    return env


def stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def test_master_and_worker_against_the_real_model(model_server, tmp_path):
    lt = loadtest(model_server, {"stages": [{"duration": "3s", "users": 2},
                                            {"duration": "5s", "users": 4}], "stopTimeout": "5s"},
                  scenario={"weights": {"single": 3, "batch": 2, "health": 1}})
    env = write_config(tmp_path, lt, wait_time_s="0.05,0.2")  # enough requests of each kind
    port = free_port()
    prefix = tmp_path / "locust"
    worker = subprocess.Popen(LOCUST + worker_args(lt, locustfile=LOCUSTFILE,
                                                   master_host="127.0.0.1", master_port=port),
                              env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        master = subprocess.run(
            LOCUST + master_args(lt, locustfile=LOCUSTFILE, csv_prefix=prefix,
                                 html=tmp_path / "report.html", expect_workers=1,
                                 bind_port=port),
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    finally:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.terminate()
            worker.wait(timeout=10)
    assert master.returncode == 0, master.stderr[-2000:]
    assert "all stages done" in master.stderr
    rows = stats(prefix)
    assert NAMES <= set(rows), rows.keys()
    for name in NAMES:
        assert int(rows[name]["Request Count"]) > 0, name
        assert int(rows[name]["Failure Count"]) == 0, (name, (tmp_path / "locust_failures.csv")
                                                       .read_text())
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        users = {int(r["User Count"]) for r in csv.DictReader(f)}
    assert 4 in users and max(users) == 4  # the shape's stages reached the workers
    assert (tmp_path / "report.html").stat().st_size > 0


class WrongEmbeddings(BaseHTTPRequestHandler):
    """200 OK with wrong content: 383-dim vectors for 1-2 texts, one vector short for more."""

    protocol_version = "HTTP/1.1"

    def _send(self, body: dict):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._send({"status": "ok"})

    def do_POST(self):  # noqa: N802
        n = len(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["texts"])
        if n <= 2:
            self._send({"embeddings": [[0.1] * 383] * n, "count": n, "dim": 383})
        else:
            self._send({"embeddings": [[0.1] * 384] * (n - 1), "count": n, "dim": 384})

    def log_message(self, *args):
        pass


def test_wrong_answers_are_failures(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), WrongEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        lt = loadtest(url, {"users": 3, "runTime": "4s"},
                      scenario={"weights": {"single": 1, "batch": 1, "health": 1}})
        env = write_config(tmp_path, lt, wait_time_s="0.05,0.1")
        prefix = tmp_path / "wrong"
        run = subprocess.run(LOCUST + ["-f", str(LOCUSTFILE), "--headless", "-u", "3", "-r", "3",
                                       "-t", "4s", "--host", url, "--csv", str(prefix),
                                       "--only-summary", "--exit-code-on-error", "0"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stderr[-2000:]
    rows = stats(prefix)
    for name in ("/embed [single]", "/embed [batch]"):
        assert int(rows[name]["Request Count"]) > 0
        assert rows[name]["Failure Count"] == rows[name]["Request Count"], name
    assert int(rows["/health"]["Request Count"]) > 0 and rows["/health"]["Failure Count"] == "0"
    failures = Path(f"{prefix}_failures.csv").read_text()
    assert "embedding of dimension 383, expected 384" in failures
    assert "embeddings for" in failures


def test_breakpoint_stops_early_at_the_knee(tmp_path):
    # One request at a time for 100 ms: 10 requests/s. Each user sends ~1 request/s (0.5-1.5 s
    # think time), so 4 users are fine and the queue grows without bound beyond ~10 users.
    with known_capacity.running(service_ms=100) as url:
        lt = loadtest(url, {"breakpoint": {"startUsers": 4, "stepUsers": 4, "stepDuration": "5s",
                                           "maxUsers": 60, "spawnRate": 4},
                            "stopTimeout": "2s"},
                      thresholds={"p95Ms": 400, "maxErrorRate": 0.05})
        env = write_config(tmp_path, lt)
        prefix = tmp_path / "bp"
        started = time.monotonic()
        run = subprocess.run(LOCUST + ["-f", f"{LOCUSTFILE},{SHAPE_FILE}", "--headless",
                                       "--host", url, "--csv", str(prefix),
                                       "--csv-full-history", "--only-summary",
                                       "--exit-code-on-error", "0", "--stop-timeout", "2",
                                       "-t", "70s"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-2000:]
    assert lt.load.duration_s == 75  # the plan: 15 steps of 5 s
    assert "SLO broken for the whole step at" in run.stderr, run.stderr[-2000:]
    line = next(ln for ln in run.stderr.splitlines() if "SLO broken" in ln)
    users = int(line.split(" at ")[-1].split(" users")[0])
    assert 8 <= users <= 24, line  # the knee is ~10 users; it takes a step or two to show
    assert elapsed < 50, elapsed  # stopped early, far from the 75 s plan
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        peak = max(int(r["User Count"]) for r in csv.DictReader(f))
    assert peak <= users
