"""The Jobs' own commands, run for real on this machine: init wait, Locust master + worker from
the ConfigMap's files, then the collector. Only the pod paths and the master's address are
mapped to local ones; everything else is exactly what the builders put into the Jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from loadgate_operator import builders, names
from loadgate_operator.settings import OperatorSettings
from support import known_capacity
from support.loadtests import loadtest
from support.servers import free_port

pytestmark = pytest.mark.timeout(120)


def pod_path(value: str, root: Path) -> str:
    """A pod path (or comma-separated list of them) -> the same under `root`."""
    parts = []
    for v in value.split(","):
        for pod in ("/config", "/results", "/tmp", "/dev/termination-log"):
            if v == pod or v.startswith(pod + "/"):
                v = str(root / pod.strip("/").replace("dev/", "")) + v[len(pod):]
                break
        parts.append(v)
    return ",".join(parts)


def localize(argv: list[str], root: Path, port: int, lt_name: str) -> list[str]:
    """Pod paths -> temp dirs, the master Service -> 127.0.0.1, 5557 -> a free port."""
    out = []
    for i, a in enumerate(argv):
        a = pod_path(a, root)
        if a == names.master(lt_name):
            a = "127.0.0.1"
        if i > 0 and argv[i - 1] in ("--master-bind-port", "--master-port"):
            a = str(port)
        out.append(a)
    if out[0] == "locust":
        return [sys.executable, "-m", "locust", *out[1:]]
    if out[0] == "loadgate":
        return [sys.executable, "-m", "loadgate", *out[1:]]
    return [sys.executable, *out[1:]] if out[0] == "python" else out


def env_of(container: dict, root: Path) -> dict:
    env = dict(os.environ)
    for e in container["env"]:
        env[e["name"]] = pod_path(e["value"], root)
    return env


def run_locust_jobs(lt, root: Path) -> None:
    """The ConfigMap's files under root/config, then the master Job's init step, the master
    container and the worker container once per worker (the Job's parallelism), exactly as
    built, to completion."""
    (root / "results").mkdir()
    (root / "tmp").mkdir()
    settings = OperatorSettings()
    cm = builders.build_configmap(lt)
    (root / "config").mkdir()
    for key, text in cm["data"].items():
        (root / "config" / key).write_text(text)
    master = builders.build_master_job(lt, settings)["spec"]["template"]["spec"]
    worker = builders.build_worker_job(lt, settings)["spec"]["template"]["spec"]
    port = free_port()

    init = master["initContainers"][0]
    ready = subprocess.run(localize(init["command"], root, port, lt.name),
                           env=env_of(init, root), capture_output=True, text=True, timeout=40)
    assert ready.returncode == 0, ready.stdout + ready.stderr

    mc, wc = master["containers"][0], worker["containers"][0]
    log = open(root / "locust.log", "w")  # noqa: SIM115
    m = subprocess.Popen(localize(mc["command"], root, port, lt.name), env=env_of(mc, root),
                         cwd=root / "tmp", stdout=log, stderr=subprocess.STDOUT)
    ws = [subprocess.Popen(localize(wc["command"], root, port, lt.name), env=env_of(wc, root),
                           cwd=root / "tmp", stdout=log, stderr=subprocess.STDOUT)
          for _ in range(lt.workers)]
    try:
        assert m.wait(timeout=60) == 0, (root / "locust.log").read_text()[-3000:]
        for w in ws:
            w.wait(timeout=20)
    finally:
        for p in (m, *ws):
            if p.poll() is None:
                p.kill()
                p.wait(5)
        log.close()


def test_master_worker_collector_commands_run(tmp_path):
    root = tmp_path
    with known_capacity.running(service_ms=2) as base:
        lt = loadtest("real", namespace="perf", url=base, target={"readyTimeout": "20s"},
                      load={"stages": [{"duration": "3s", "users": 2, "spawnRate": 2},
                                       {"duration": "3s", "users": 4, "spawnRate": 4}],
                            "stopTimeout": "2s"},
                      workers=1, thresholds={"p95Ms": 5000, "maxErrorRate": 0.5},
                      timeouts={"workersConnect": "30s", "deadline": "3m"})
        assert "shape.py" in builders.build_configmap(lt)["data"]  # stages: the master's shape
        run_locust_jobs(lt, root)
    assert (root / "results" / "locust_stats_history.csv").exists()
    assert (root / "results" / "report.html").exists()
    settings = OperatorSettings()
    port = free_port()

    cc = builders.build_collector_job(lt, settings)["spec"]["template"]["spec"]["containers"][0]
    proc = subprocess.run(localize(cc["command"], root, port, "real"), env=env_of(cc, root),
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    message = (root / "termination-log").read_text()
    assert len(message.encode()) < 4096
    summary = json.loads(message)
    assert summary["verdict"] == "Pass", summary["reason"]
    assert summary["summary"]["requests"] > 0 and summary["summary"]["maxUsers"] == 4
    # the generator CPU Locust measured itself reaches the verdict (Invalid over ~90%)
    cpu = summary["generator"]["maxCpuPercent"]
    assert isinstance(cpu, float) and 0 <= cpu <= 100 and summary["generator"]["source"] == "locust"
    assert any(r["metric"] == "generator.maxCpuPercent" for r in summary["thresholds"])
    assert json.loads((root / "results" / "summary.json").read_text())["name"] == "real"

    # a saturated generator (as its own record says) makes the run Invalid, on a cluster too
    (root / "results" / "locust_generator.json").write_text('{"maxCpuPercent": 97.0}')
    proc = subprocess.run(localize(cc["command"], root, port, "real"), env=env_of(cc, root),
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((root / "termination-log").read_text())
    assert summary["verdict"] == "Invalid" and "97%" in summary["reason"], summary["reason"]


def test_rate_load_runs_open_loop_in_the_jobs(tmp_path):
    """A rate load from the Jobs' own commands: two workers share 40 req/s, the master merges
    their latency histograms into the results, the collector's verdict has the open-loop
    figures (exact percentiles from the scheduled start, offered, dropped)."""
    with known_capacity.running(service_ms=2) as base:
        lt = loadtest("rate", namespace="perf", url=base, target={"readyTimeout": "20s"},
                      load={"rateStages": [{"duration": "3s", "rps": 20, "name": "warm"},
                                           {"duration": "3s", "rps": 40, "name": "busy",
                                            "thresholds": {"p95Ms": 1000}}],
                            "arrival": "poisson", "maxInFlight": 16, "stopTimeout": "2s"},
                      workers=2, thresholds={"maxErrorRate": 0.01, "maxDroppedRate": 0.01},
                      timeouts={"workersConnect": "30s", "deadline": "3m"})
        run_locust_jobs(lt, tmp_path)
    assert (tmp_path / "results" / "locust_latency.json").exists()
    cc = builders.build_collector_job(lt, OperatorSettings())["spec"]["template"]["spec"][
        "containers"][0]
    proc = subprocess.run(localize(cc["command"], tmp_path, free_port(), "rate"),
                          env=env_of(cc, tmp_path), capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "termination-log").read_text())
    assert summary["verdict"] == "Pass", summary["reason"]
    s = summary["summary"]
    assert s["openLoop"] and s["latencySource"] == "histogram" and s["dropped"] == 0
    assert 0.6 * 20 * 3 + 0.6 * 40 * 3 <= s["scheduled"] <= 1.4 * (20 * 3 + 40 * 3)
    assert s["requests"] == s["scheduled"]
    assert {r["metric"] for r in summary["thresholds"]} >= {
        "errorRate", "droppedRate", "stages.busy.p95Ms", "generator.scheduleLagP95Ms"}
    assert summary["breakingPoint"]["unit"] == "rps"
