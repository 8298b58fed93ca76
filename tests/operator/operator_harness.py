"""Helpers for the operator tests: the operator subprocess, polling, LoadTest documents."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loadgate_operator import names

NS = "lg"


def wait_until(fn: Callable[[], object], timeout: float = 30, what: str = "condition",
               interval: float = 0.1):
    """Poll `fn` until it returns something truthy (bounded); return that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except Exception as e:  # the emulator may answer 404 until the object exists
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Operator:
    """`loadgate operator --namespace lg` as a subprocess, restartable."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.proc: subprocess.Popen | None = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.liveness_port = sock.getsockname()[1]

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), LOADGATE_OPERATOR_INTERVAL="0.5",
                   LOADGATE_RUNNER_IMAGE="registry.test/loadgate:1.0", PYTHONUNBUFFERED="1")
        self.fh = open(self.log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loadgate", "operator", "--namespace", NS,
             f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
             "--verbose"], env=env, stdout=self.fh, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.fh.close()

    def logs(self) -> str:
        return self.log.read_text()[-6000:]


def loadtest(name: str, **spec) -> dict:
    base = {"target": {"url": "http://model-server:8000", "readyTimeout": "30s"},
            "load": {"users": 4, "spawnRate": 4, "runTime": "10s"}, "workers": 2,
            "thresholds": {"p95Ms": 500, "maxErrorRate": 0.2}}
    base.update(spec)
    return {"apiVersion": names.API_VERSION, "kind": names.KIND,
            "metadata": {"name": name, "namespace": NS}, "spec": base}
