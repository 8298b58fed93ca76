"""The operator under test: a real `loadgate operator` process against the kmock emulator."""

from __future__ import annotations

import pytest
from loadgate_operator import kube
from support.kmock_emulator import EmulatorThread
from support.operator_process import NS, Operator


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
