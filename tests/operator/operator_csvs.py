"""Real Locust CSVs for the collector: one short run against the gate tests' known server."""

from __future__ import annotations

import importlib.util
import shutil
from functools import lru_cache
from pathlib import Path

GATE_CONFTEST = Path(__file__).resolve().parents[1] / "gate" / "conftest.py"


def _gate_helpers():
    spec = importlib.util.spec_from_file_location("gate_conftest_helpers", GATE_CONFTEST)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=1)
def _made(workdir: str) -> Path:
    """4 users for 4 s with ~10% failures (the gate tests' locustfile), made once."""
    gate = _gate_helpers()
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    with gate.load_known_capacity().running(service_ms=5) as base:
        gate.run_locust(work, gate.LOCUSTFILE, base, "-u", "4", "-r", "4", "--run-time", "4s")
    return work


def real_results(dest: Path) -> Path:
    """A results directory holding locust_*.csv from one real run (shared by all callers)."""
    src = _made(str(dest.parent.parent / "real-locust-run"))
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.glob("locust_*.csv"):
        shutil.copy(f, dest / f.name)
    return dest
