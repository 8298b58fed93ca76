"""One real Locust result set per session: a short headless run against known_capacity.py."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support" / "known_capacity.py"

# 4 users, ~10% of requests hit a missing route (404 -> a Locust failure), the rest succeed.
LOCUSTFILE = '''
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


def load_known_capacity():
    spec = importlib.util.spec_from_file_location("known_capacity", SUPPORT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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


@pytest.fixture(scope="session")
def real_csv_dir(tmp_path_factory) -> Path:
    """A real result set (made once): 4 users for 5 s against a 5 ms one-at-a-time server."""
    work = tmp_path_factory.mktemp("real_csvs")
    with load_known_capacity().running(service_ms=5) as base:
        run_locust(work, LOCUSTFILE, base, "-u", "4", "-r", "4", "--run-time", "5s")
    return work


@pytest.fixture
def csv_copy(real_csv_dir, tmp_path) -> str:
    """A private copy of the real result set to break; returns its prefix."""
    for f in real_csv_dir.glob("locust_*.csv"):
        shutil.copy(f, tmp_path / f.name)
    return str(tmp_path / "locust")
