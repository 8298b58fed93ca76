"""`loadgate operator` as a restartable subprocess, pointed at a kubeconfig (the emulator's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.servers import free_port

NS = "lg"  # the namespace the operator under test watches


class Operator:
    """`loadgate operator --namespace lg` as a subprocess, restartable."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.proc: subprocess.Popen | None = None
        self.liveness_port = free_port()

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
