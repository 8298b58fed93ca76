"""`loadgate operator` as a restartable subprocess, pointed at a kubeconfig (the emulator's)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from support.servers import free_port

NS = "lg"  # the namespace the operator under test watches


class Operator:
    """`loadgate operator --namespace lg` (or `--all-namespaces`) as a subprocess, restartable;
    `env` adds operator settings (LOADGATE_*)."""

    def __init__(self, kubeconfig: Path, log: Path, *, clusterwide: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.kubeconfig, self.log = kubeconfig, log
        self.scope = ["--all-namespaces"] if clusterwide else ["--namespace", NS]
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.liveness_port = free_port()

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), LOADGATE_OPERATOR_INTERVAL="0.5",
                   LOADGATE_RUNNER_IMAGE="registry.test/loadgate:1.0", PYTHONUNBUFFERED="1",
                   **self.env)
        self.fh = open(self.log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loadgate", "operator", *self.scope,
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


@contextlib.contextmanager
def operator_cluster(tmp: Path, *, namespaces: tuple[str, ...] = (NS,), clusterwide: bool = False,
                     env: dict[str, str] | None = None) -> Iterator:
    """The emulator with `namespaces`, and `loadgate operator` against it with exactly the
    chart's permissions: the namespaced Role (watching NS) or, `clusterwide`, the ClusterRole.
    The test process's `kube` client is a cluster admin. Yields the EmulatorThread, with the
    Operator as `.operator`."""
    from loadgate_operator import kube

    from support.kmock_emulator import EmulatorThread
    from support.kube_rbac import chart_authorizer

    with EmulatorThread(tmp) as em:
        kube.load_config(str(em.kubeconfig))
        em.emulator.namespaces = namespaces
        for ns in namespaces:
            em.put("v1/namespaces", None, ns, {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": ns}})
        em.emulator.rbac["operator"] = chart_authorizer(
            watch_namespaces=() if clusterwide else (NS,))
        op = Operator(em.kubeconfig_for("operator"), tmp / "operator.log",
                      clusterwide=clusterwide, env=env)
        op.start()
        em.operator = op
        try:
            yield em
        finally:
            op.stop()
            kube.reset()
