"""The operator as the chart's default install runs it: `--all-namespaces` with the chart's
ClusterRole, against the kmock emulator (runs in two namespaces)."""

from __future__ import annotations

import pytest
from loadgate_operator import kube, names
from support.loadtests import loadtest_doc
from support.operator_process import operator_cluster
from support.polling import wait_until

pytestmark = pytest.mark.timeout(180)

LT = names.API_VERSION, names.KIND
NAMESPACES = ("team-a", "team-b")


@pytest.fixture(scope="module")
def clusterwide(tmp_path_factory):
    with operator_cluster(tmp_path_factory.mktemp("kmock-clusterwide"), namespaces=NAMESPACES,
                          clusterwide=True) as em:
        yield em


def create_lt(namespace: str, name: str, **spec) -> dict:
    doc = loadtest_doc(name, namespace=namespace, url="http://model-server:8000",
                       target={"readyTimeout": "30s"}, **spec)
    return kube.request("POST", kube.collection(*LT, namespace), body=doc)


def phase(namespace: str, name: str) -> str | None:
    return ((kube.get(*LT, namespace, name) or {}).get("status") or {}).get("phase")


def test_runs_in_every_namespace_with_the_charts_cluster_role(clusterwide):
    for ns in NAMESPACES:
        create_lt(ns, "wide")
    for ns in NAMESPACES:
        wait_until(lambda ns=ns: phase(ns, "wide") == "WaitingForTarget", 60,
                   f"{ns}/wide WaitingForTarget")
        assert kube.get("batch/v1", "Job", ns, names.master("wide")) is not None
    assert clusterwide.emulator.forbidden == []
    assert "Not enough permissions" not in clusterwide.operator.log.read_text()
