"""`loadgate operator` and `loadgate wait` where there is nothing to work with: one line and
exit 2, never a traceback or a wait that cannot end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from support.kmock_emulator import EmulatorThread


def loadgate(*argv: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    return subprocess.run([sys.executable, "-m", "loadgate", *argv], env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


def test_operator_without_a_kubeconfig_says_so_and_exits(tmp_path):
    r = loadgate("operator", env={"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr  # one line
    assert r.stderr.startswith("loadgate operator: no Kubernetes configuration")
    assert "KUBECONFIG" in r.stderr and "Traceback" not in r.stderr


def test_operator_with_a_bad_setting_says_so_and_exits(tmp_path):
    r = loadgate("operator", env={"KUBECONFIG": str(tmp_path / "none"),
                                  "LOADGATE_OPERATOR_INTERVAL": "-1"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("loadgate operator: invalid settings: LOADGATE_OPERATOR_INTERVAL:"
                                " Input should be greater than 0, not '-1'")


def test_wait_on_a_cluster_without_the_crd_says_it_is_not_installed(tmp_path):
    with EmulatorThread(tmp_path) as em:
        async def uninstall_crd():
            for res in list(em.emulator.resources.keys()):
                if res.plural == "loadtests":
                    del em.emulator.resources[res]

        asyncio.run_coroutine_threadsafe(uninstall_crd(), em.loop).result(10)
        t0 = time.monotonic()
        r = loadgate("wait", "smoke", "-n", "lg", "--timeout", "30m",
                     env={"KUBECONFIG": str(em.kubeconfig)})
    assert r.returncode == 2 and time.monotonic() - t0 < 30, "waited for a CRD that is not there"
    assert "the LoadTest CRD is not installed" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
