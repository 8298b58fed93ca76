"""`make bench-server` still runs: one short round of the defaults, and its in-process ceiling.

The figures themselves are noise on a shared machine; this only keeps the benchmark working.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_server_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_server", "--seconds", "5", "--rounds", "1",
         "--users", "10", "--only", "default", "--ceiling-seconds", "1", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    default = result["summary"]["default"]
    assert default["texts_per_s"] > 0 and default["failures"] == 0
    assert 0 < default["startup_s"] < 120 and 0 < default["model_busy"] <= 1.05
    assert set(result["ceilings_texts_per_s"]) == {result["default_backend"]}
    assert "in-process ceiling" in proc.stdout and "texts/s" in proc.stdout
