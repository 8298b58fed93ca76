"""The operator under test: a real `loadgate operator` process against the kmock emulator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kmock_emulator import EmulatorThread  # noqa: E402
from loadgate_operator import kube  # noqa: E402
from operator_harness import NS, Operator  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kmock")
    with EmulatorThread(tmp) as em:
        kube.load_config(str(em.kubeconfig))
        em.put("v1/namespaces", None, NS, {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": NS}})
        op = Operator(em.kubeconfig, tmp / "operator.log")
        op.start()
        em.operator = op
        try:
            yield em
        finally:
            op.stop()
            kube.reset()
