"""Short real Locust runs, `loadgate run` as a subprocess, and the one real result set the gate
and collector tests share."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import known_capacity

REPO = Path(__file__).resolve().parents[2]

# 4 users, ~10% of requests hit a missing route (404 -> a Locust failure), the rest succeed.
FAILING_LOCUSTFILE = '''
from locust import FastHttpUser, constant, task

class U(FastHttpUser):
    wait_time = constant(0.05)

    @task(6)
    def single(self):
        self.client.post("/embed", json={"texts": ["a b c"]}, name="/embed [single]")

    @task(3)
    def health(self):
        self.client.get("/health", name="/health")

    @task(1)
    def missing(self):
        self.client.get("/missing", name="/missing")
'''


def run_locust(workdir: Path, locustfile: str, host: str, *extra: str,
               timeout: float = 60) -> str:
    """Run Locust headless with --csv/--csv-full-history; returns the CSV prefix."""
    lf = workdir / "locustfile.py"
    lf.write_text(locustfile)
    prefix = str(workdir / "locust")
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(lf), "--headless", "--host", host,
         "--csv", prefix, "--csv-full-history", "--only-summary", "--stop-timeout", "2",
         "--loglevel", "WARNING", *extra],
        cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if not Path(prefix + "_stats.csv").exists():
        raise RuntimeError(f"locust wrote no CSVs (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return prefix


def make_real_results(workdir: Path) -> Path:
    """4 users for 5 s against a 5 ms one-at-a-time server, ~10% failures: locust_*.csv."""
    with known_capacity.running(service_ms=5) as base:
        run_locust(workdir, FAILING_LOCUSTFILE, base, "-u", "4", "-r", "4", "--run-time", "5s")
    return workdir


def copy_results(src: Path, dest: Path) -> Path:
    """A private copy of a result set's locust_*.csv in `dest` (to break, or analyse there)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in Path(src).glob("locust_*.csv"):
        shutil.copy(f, dest / f.name)
    return dest


def loadgate_run(*argv: str, cwd: Path, timeout: float = 120,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m loadgate run ARGV` in `cwd`; its output is printed (pytest shows it when
    the test fails)."""
    r = subprocess.run([sys.executable, "-m", "loadgate", "run", *argv], cwd=cwd,
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})})
    print(r.stdout, r.stderr, sep="\n")
    return r


def summary_of(out: Path) -> dict:
    return json.loads((Path(out) / "summary.json").read_text())
