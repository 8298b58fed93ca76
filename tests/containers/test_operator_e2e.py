"""The operator end to end: `loadgate operator` from its chart's pod spec, in its own image,
against the kmock emulator (in-cluster config: service-account token over TLS), a test
kubelet running every Job's pods through the pod runner and writing Job and Pod status back,
and the model-server container as the target. A LoadTest applied to the emulator goes
Pending -> WaitingForTarget -> Running -> Collecting -> Succeeded with verdict Pass: the whole
product path but scheduling and DNS."""

from __future__ import annotations

import time
import urllib.request

import pytest
from loadgate_operator import builders, kube, names
from support import podrunner
from support.charts import one
from support.cluster_path import free_port, render, report, split_ref, wait_port_free
from support.kmock_emulator import EmulatorThread
from support.kubelet import ApiTls, Kubelet

pytestmark = pytest.mark.timeout(1200)

NS = "lg"
LT = names.API_VERSION, names.KIND


def operator_pod_spec(image: str, liveness_port: int) -> dict:
    """The chart's operator Deployment, watching NS, on a free liveness port (host network)."""
    repo, tag = split_ref(image)
    objs = render("loadgate", "loadgate", NS,
                  [f"image.repository={repo}", f"image.tag={tag}", f"watchNamespaces={{{NS}}}",
                   f"operator.livenessPort={liveness_port}",
                   "operator.extraEnv[0].name=LOADGATE_OPERATOR_INTERVAL"],
                  set_strings=["operator.extraEnv[0].value=1"])
    return one(objs, "Deployment")["spec"]["template"]["spec"]


@pytest.fixture
def cluster(loadgate_image, model_server, tmp_path):
    """Emulator + TLS front + the operator pod + the kubelet; yields (cluster, operator pod)."""
    model_server.pod  # noqa: B018 - the target first, as a user would deploy it
    with EmulatorThread(tmp_path) as em, ApiTls(int(em.url.rsplit(":", 1)[1]), tmp_path) as tls:
        kube.load_config(str(em.kubeconfig))
        em.put("v1/namespaces", None, NS, {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": NS}})
        pods = podrunner.Cluster(namespace=NS, workdir=tmp_path / "cluster",
                                 api=tls.api_server(),
                                 services={"model-server": model_server.service["spec"]["ports"]})
        port = free_port()
        t0 = time.monotonic()
        operator = podrunner.Pod("loadgate-operator", operator_pod_spec(loadgate_image, port),
                                 pods).start()
        kubelet = Kubelet(pods).start()
        try:
            _wait_live(operator, port)
            report(f"operator container live (kopf /healthz 200) in {time.monotonic() - t0:.1f}s")
            yield pods, operator, kubelet
        finally:
            kubelet.stop()
            operator.remove()
            kube.reset()


def _wait_live(operator: podrunner.Pod, port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert operator.phase in ("Pending", "Running") and time.monotonic() < deadline, \
            operator.describe()
        time.sleep(0.3)


def test_loadtest_applied_goes_to_succeeded_pass(cluster, model_server):
    pods, operator, kubelet = cluster
    wait_port_free(builders.MASTER_PORT)
    doc = {"apiVersion": names.API_VERSION, "kind": names.KIND,
           "metadata": {"name": "e2e", "namespace": NS},
           "spec": {"target": {"url": f"http://model-server:{model_server.port}",
                               "readyTimeout": "60s"},
                    "load": {"users": 4, "spawnRate": 4, "runTime": "10s", "stopTimeout": "2s"},
                    "workers": 2,
                    "thresholds": {"p95Ms": 3000, "maxErrorRate": 0.05},
                    "timeouts": {"workersConnect": "60s", "deadline": "5m"}}}
    t0 = time.monotonic()
    kube.request("POST", kube.collection(*LT, NS), body=doc)
    phases: list[tuple[float, str]] = []
    st: dict = {}
    deadline = t0 + 240
    while st.get("phase") not in ("Succeeded", "Failed"):
        assert not kubelet.errors, kubelet.errors[-1]
        assert operator.phase == "Running", operator.describe()
        assert time.monotonic() < deadline, (
            f"no verdict after 240s; phases {phases}\n{operator.describe()}\n"
            + "\n".join(p.describe() for p in kubelet.pods()))
        st = (kube.get(*LT, NS, "e2e") or {}).get("status") or {}
        phase = st.get("phase") or "Pending"
        if not phases or phases[-1][1] != phase:
            phases.append((time.monotonic() - t0, phase))
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    report(f"operator e2e: apply -> verdict {st.get('verdict')} in {elapsed:.1f}s "
           f"({', '.join(f'{p} at {t:.1f}s' for t, p in phases)})")
    details = f"{st}\n{operator.describe()}\n" + "\n".join(p.describe() for p in kubelet.pods())
    assert [p for _, p in phases] == ["Pending", "WaitingForTarget", "Running", "Collecting",
                                     "Succeeded"], details
    assert st["verdict"] == "Pass", details
    s = st["summary"]
    assert s["requests"] > 10 and s["failures"] == 0 and s["rps"] > 0 and s["p95Ms"] > 0
    assert all(r["passed"] for r in st["thresholds"]) and "found" in st["breakingPoint"]
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "TargetReady": "True", "WorkersConnected": "True", "LoadCompleted": "True",
        "ThresholdsMet": "True"}
    # what the kubelet wrote is what the operator read: the collector's termination message
    collector = kube.list_("v1", "Pod", NS, names.label_selector("e2e", "collector"))
    term = collector[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and '"verdict":"Pass"' in term["message"]
    # the operator ran in-cluster (token + CA) and created every child in the emulator
    assert {j["metadata"]["name"] for j in kube.list_("batch/v1", "Job", NS, "")} == {
        "e2e-master", "e2e-workers", "e2e-collector"}
    assert len(kube.list_("v1", "Pod", NS, names.label_selector("e2e", "workers"))) == 2
    results = pods.claims["e2e-results"] / "e2e"
    assert (results / "summary.json").is_file() and (results / "report.html").is_file()
