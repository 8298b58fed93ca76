"""The operator as the chart's default install runs it: `--all-namespaces` with the chart's
ClusterRole, against the kmock emulator (runs in two namespaces)."""

from __future__ import annotations

import time

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
                          clusterwide=True, env={"LOADGATE_KEEP_FINISHED": "2"}) as em:
        yield em


def create_lt(namespace: str, name: str, annotations: dict | None = None, **spec) -> dict:
    doc = loadtest_doc(name, namespace=namespace, url="http://model-server:8000",
                       target={"readyTimeout": "30s"}, **spec)
    if annotations:
        doc["metadata"]["annotations"] = annotations
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


def test_finished_runs_do_not_pile_up(clusterwide):
    """LOADGATE_KEEP_FINISHED=2: each finished run deletes its namespace's finished LoadTests
    beyond the newest two; running ones, `loadgate.dev/keep` ones and other namespaces stay."""
    too_short = {"timeouts": {"deadline": "1m"}}  # an invalid spec: Failed at once
    create_lt("team-a", "going")
    wait_until(lambda: phase("team-a", "going") == "WaitingForTarget", 30, "going to run")
    create_lt("team-a", "pinned", annotations={"loadgate.dev/keep": "true"}, **too_short)
    create_lt("team-b", "elsewhere", **too_short)
    for ns, name in (("team-a", "pinned"), ("team-b", "elsewhere")):
        wait_until(lambda ns=ns, name=name: phase(ns, name) == "Failed", 30, f"{name} Failed")
    for i in range(1, 5):
        create_lt("team-a", f"done-{i}", **too_short)
        wait_until(lambda i=i: phase("team-a", f"done-{i}") == "Failed", 30, f"done-{i} Failed")
        time.sleep(1.1)  # completion times are whole seconds: keep the order unambiguous
    wait_until(lambda: kube.get(*LT, "team-a", "done-2") is None, 30, "done-1 and -2 pruned")
    left = {lt["metadata"]["name"] for lt in kube.list_(*LT, "team-a")} - {"wide"}
    assert left == {"going", "pinned", "done-3", "done-4"}
    assert kube.get(*LT, "team-b", "elsewhere") is not None
    assert clusterwide.emulator.forbidden == []
