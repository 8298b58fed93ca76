"""The operator process itself (kopf) against the kmock emulator: children, phases, verdicts.

Pods and Job statuses are what a kubelet and the Job controller would write; the test plays
their part by creating/patching the emulated objects.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from loadgate_operator import kube, names
from support.loadtests import loadtest_doc
from support.locust_runs import copy_results
from support.operator_process import NS
from support.polling import wait_until

pytestmark = pytest.mark.timeout(240)

LT = names.API_VERSION, names.KIND
CHILD_KINDS = [("v1", "ConfigMap", names.config), ("v1", "PersistentVolumeClaim", names.results),
               ("v1", "Service", names.master), ("batch/v1", "Job", names.master),
               ("batch/v1", "Job", names.workers)]


def loadtest(name: str, **spec) -> dict:
    """This module's LoadTest: 2 workers against the chart's model-server Service."""
    defaults = {"target": {"url": "http://model-server:8000", "readyTimeout": "30s"},
                "load": {"users": 4, "spawnRate": 4, "runTime": "10s"}, "workers": 2,
                "thresholds": {"p95Ms": 500, "maxErrorRate": 0.2}}
    return loadtest_doc(name, namespace=NS, **{**defaults, **spec})


def create_lt(doc: dict) -> dict:
    return kube.request("POST", kube.collection(*LT, NS), body=doc)


def delete_lt(name: str) -> None:
    """Remove a run that would otherwise keep its timer ticking for the rest of the module."""
    kube.request("DELETE", f"{kube.collection(*LT, NS)}/{name}")


def status_of(name: str) -> dict:
    return (kube.get(*LT, NS, name) or {}).get("status") or {}


def wait_phase(name: str, phase: str, timeout: float = 30) -> dict:
    return wait_until(lambda: (st := status_of(name)).get("phase") == phase and st,
                      timeout, f"{name} phase {phase} (now {status_of(name).get('phase')})")


def children(name: str) -> list[dict]:
    out = []
    for api, kind, fn in CHILD_KINDS:
        obj = kube.get(api, kind, NS, fn(name))
        if obj is not None:
            out.append(obj)
    return out


def make_pod(lt_name: str, component: str, container_statuses: dict) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{lt_name}-{component}-x1", "namespace": NS,
                        "labels": names.labels(lt_name, component)},
           "spec": {"containers": [{"name": component, "image": "x"}]},
           "status": container_statuses}
    kube.request("POST", kube.collection("v1", "Pod", NS), body=pod)


def job_status(name: str, status: dict) -> None:
    kube.patch("batch/v1", "Job", NS, name, {"status": status}, subresource="status")


def target_ready(lt_name: str) -> None:
    make_pod(lt_name, "master", {"initContainerStatuses": [
        {"name": "wait-for-target", "state": {"terminated": {"exitCode": 0}}}]})


def master_complete(lt_name: str) -> None:
    job_status(names.master(lt_name), {"succeeded": 1, "conditions": [
        {"type": "Complete", "status": "True"}]})


def collector_done(lt_name: str, message: str) -> None:
    make_pod(lt_name, "collector", {"containerStatuses": [
        {"name": "collector", "state": {"terminated": {"exitCode": 0, "message": message}}}]})


def events_for(name: str) -> list[dict]:
    evs = kube.request("GET", f"/api/v1/namespaces/{NS}/events")["items"]
    return [e for e in evs if (e.get("involvedObject") or {}).get("name") == name]


def loadgate_wait(cluster, name: str, timeout: str) -> subprocess.CompletedProcess:
    import os
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    return subprocess.run([sys.executable, "-m", "loadgate", "wait", name, "-n", NS,
                           "--timeout", timeout], env=env, capture_output=True, text=True,
                          timeout=60)


def run_to_collecting(name: str) -> None:
    wait_phase(name, "WaitingForTarget")
    target_ready(name)
    wait_phase(name, "Running")
    job_status(names.workers(name), {"active": 2, "ready": 2})
    wait_until(lambda: any(c["type"] == "WorkersConnected" and c["status"] == "True"
                           for c in status_of(name).get("conditions", [])), 30,
               "WorkersConnected=True")
    master_complete(name)
    wait_phase(name, "Collecting")
    wait_until(lambda: kube.get("batch/v1", "Job", NS, names.collector(name)), 30,
               "the collector Job")


def test_pass_run_end_to_end(cluster, collector_messages):
    t0 = time.monotonic()
    lt = create_lt(loadtest("smoke"))
    kids = wait_until(lambda: len(c := children("smoke")) == len(CHILD_KINDS) and c, 30,
                      "all children")
    elapsed = time.monotonic() - t0
    print(f"\nLoadTest creation -> all {len(kids)} children created: {elapsed:.2f}s")
    uid = lt["metadata"]["uid"]
    for child in kids:
        refs = child["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in refs] == [
            ("LoadTest", "smoke", uid, True)], child["metadata"]["name"]
        labels = child["metadata"]["labels"]
        assert labels["loadgate.dev/loadtest"] == "smoke"
        assert labels["app.kubernetes.io/managed-by"] == "loadgate-operator"
    st = wait_phase("smoke", "WaitingForTarget")
    assert st["resultsPath"] == "pvc/smoke-results/smoke" and st["observedGeneration"] == 1
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "TargetReady": "Unknown", "WorkersConnected": "Unknown", "LoadCompleted": "Unknown",
        "ThresholdsMet": "Unknown"}
    master = kube.get("batch/v1", "Job", NS, "smoke-master")
    assert master["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.test/loadgate:1.0"

    run_to_collecting("smoke")
    collector = kube.get("batch/v1", "Job", NS, "smoke-collector")
    assert collector["metadata"]["ownerReferences"][0]["uid"] == uid
    collector_done("smoke", collector_messages["Pass"])
    st = wait_phase("smoke", "Succeeded")
    assert st["verdict"] == "Pass"
    assert st["summary"]["requests"] > 0 and st["summary"]["rps"] > 0
    assert st["thresholds"] and all(r["passed"] for r in st["thresholds"])
    assert "found" in st["breakingPoint"]
    conds = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conds == {"TargetReady": ("True", "HealthCheckPassed"),
                     "WorkersConnected": ("True", "WorkersReady"),
                     "LoadCompleted": ("True", "MasterCompleted"),
                     "ThresholdsMet": ("True", "ThresholdsPassed")}
    assert st["startTime"] <= st["completionTime"]
    reasons = wait_until(lambda: {e["reason"] for e in events_for("smoke")} >= {
        "WaitingForTarget", "Running", "Collecting", "Succeeded", "VerdictPass"} and
        {e["reason"] for e in events_for("smoke")}, 20, "phase and verdict Events")
    assert "VerdictPass" in reasons
    assert loadgate_wait(cluster, "smoke", "10s").returncode == 0
    lt_writes = {w for w in cluster.emulator.status_writes if w[0] == "loadtests"}
    assert lt_writes == {("loadtests", "status")}  # only ever via the status subresource

    # a run is immutable: a spec change afterwards is ignored, with a Warning Event
    kube.patch(*LT, NS, "smoke", {"spec": {"workers": 5}})
    wait_until(lambda: any(e["reason"] == "SpecChangeIgnored" for e in events_for("smoke")),
               20, "SpecChangeIgnored Event")
    assert kube.get("batch/v1", "Job", NS, "smoke-workers")["spec"]["parallelism"] == 2


def test_liveness_endpoint(cluster):
    import urllib.request
    url = f"http://127.0.0.1:{cluster.operator.liveness_port}/healthz"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200


def test_failing_threshold_gives_fail(cluster, collector_messages):
    create_lt(loadtest("strict", thresholds={"p95Ms": 0.001}))
    run_to_collecting("strict")
    collector_done("strict", collector_messages["Fail"])
    st = wait_phase("strict", "Succeeded")
    assert st["verdict"] == "Fail"
    assert [c for c in st["conditions"] if c["type"] == "ThresholdsMet"][0]["status"] == "False"
    assert any(not r["passed"] for r in st["thresholds"])
    proc = loadgate_wait(cluster, "strict", "10s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verdict Fail" in proc.stdout


def test_unusable_collector_output_is_error(cluster):
    create_lt(loadtest("garbled"))
    run_to_collecting("garbled")
    collector_done("garbled", "Traceback (most recent call last): boom")
    st = wait_phase("garbled", "Failed")
    assert st["verdict"] == "Error" and "not JSON" in st["reason"]


def test_target_never_ready_fails(cluster):
    create_lt(loadtest("notarget"))
    wait_phase("notarget", "WaitingForTarget")
    make_pod("notarget", "master", {"initContainerStatuses": [
        {"name": "wait-for-target", "state": {"terminated": {
            "exitCode": 2, "message": "http://model-server:8000/health not ready after 30s"}}}]})
    st = wait_phase("notarget", "Failed")
    assert st["verdict"] == "Error"
    assert "target never became ready" in st["reason"] and "not ready after 30s" in st["reason"]
    assert [c for c in st["conditions"] if c["type"] == "TargetReady"][0]["reason"] == \
        "TargetNotReady"


def test_stuck_run_hits_deadline(cluster):
    create_lt(loadtest("stuck", timeouts={"deadline": "3s", "workersConnect": "2s"}))
    st = wait_phase("stuck", "Failed", timeout=40)
    assert st["verdict"] == "Error" and "deadline" in st["reason"]
    # kopf posts Events in the background: the status can land before the Event does
    wait_until(lambda: any(e["reason"] == "VerdictError" for e in events_for("stuck")), 20,
               "the VerdictError Event")
    proc = loadgate_wait(cluster, "stuck", "5s")
    assert proc.returncode == 2


def test_rejected_child_fails_instead_of_retrying(cluster):
    """A name the API server refuses for a Service (the CRD's CEL rule stops it earlier)."""
    create_lt(loadtest("9lives"))
    st = wait_phase("9lives", "Failed")
    assert st["verdict"] == "Error"
    assert st["reason"].startswith("the API server rejected Service 9lives-master: 422")


def test_invalid_spec_fails_with_reason(cluster):
    create_lt(loadtest("broken", load={"users": 5, "runTime": "10s",
                                       "stages": [{"duration": "5s", "users": 1}]}))
    st = wait_phase("broken", "Failed")
    assert st["verdict"] == "Error" and st["reason"].startswith("invalid spec:")
    assert "spec.load" in st["reason"]
    assert children("broken") == []


def test_restart_mid_run_no_duplicates(cluster, collector_messages):
    create_lt(loadtest("restart"))
    wait_phase("restart", "WaitingForTarget")
    cluster.operator.stop()
    target_ready("restart")  # happens while no operator runs
    cluster.operator.start()
    wait_phase("restart", "Running", timeout=60)
    job_status(names.workers("restart"), {"active": 2, "ready": 2})
    master_complete("restart")
    wait_phase("restart", "Collecting")
    collector_done("restart", collector_messages["Pass"])
    assert wait_phase("restart", "Succeeded")["verdict"] == "Pass"
    jobs = [j for j in cluster.objects("batch/v1/jobs")
            if j["metadata"]["labels"].get("loadgate.dev/loadtest") == "restart"]
    assert sorted(j["metadata"]["name"] for j in jobs) == [
        "restart-collector", "restart-master", "restart-workers"]
    for plural in ("v1/configmaps", "v1/services", "v1/persistentvolumeclaims"):
        mine = [o for o in cluster.objects(plural)
                if o["metadata"].get("labels", {}).get("loadgate.dev/loadtest") == "restart"]
        assert len(mine) == 1, plural


def test_wait_times_out_on_unfinished_run(cluster):
    create_lt(loadtest("slow"))
    wait_phase("slow", "WaitingForTarget")
    proc = loadgate_wait(cluster, "slow", "2s")
    assert proc.returncode == 2 and "timed out" in proc.stdout
    assert "phase WaitingForTarget" in proc.stdout
    delete_lt("slow")


@pytest.fixture(scope="module")
def collector_messages(tmp_path_factory, real_results) -> dict[str, str]:
    """Termination messages written by the real `loadgate collect` on real Locust CSVs."""
    out = {}
    for verdict, p95 in (("Pass", 5000), ("Fail", 0.001)):
        work = tmp_path_factory.mktemp(f"collect-{verdict}")
        results = copy_results(real_results, work / "results")
        config = work / "loadtest.json"
        config.write_text(json.dumps(loadtest("collected", thresholds={
            "p95Ms": p95, "maxErrorRate": 0.5})))
        log = work / "termination-log"
        proc = subprocess.run([sys.executable, "-m", "loadgate", "collect", "--config",
                               str(config), "--results", str(results), "--termination-log",
                               str(log)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        message = log.read_text()
        assert len(message.encode()) < 4096
        assert json.loads(message)["verdict"] == verdict, message
        # full reports stay on the "PVC", next to the CSVs
        full = json.loads((results / "summary.json").read_text())
        assert full["verdict"] == verdict and "endpoints" in full
        assert (results / "junit.xml").exists() and (results / "summary.md").exists()
        out[verdict] = message
    return out


def test_baseline_from_a_finished_loadtest(cluster):
    done = wait_phase("smoke", "Succeeded")  # finished by test_pass_run_end_to_end
    create_lt(loadtest("base-next", baseline={"loadTestRef": "smoke",
                                               "maxRegressionPct": 5}))
    wait_phase("base-next", "WaitingForTarget")
    cm = kube.get("v1", "ConfigMap", NS, names.config("base-next"))
    baseline = json.loads(cm["data"]["baseline.json"])
    assert baseline["summary"] == done["summary"] and baseline["name"] == "smoke"
    run_to_collecting("base-next")
    cmd = kube.get("batch/v1", "Job", NS, names.collector("base-next"))[
        "spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[-2:] == ["--baseline", "/config/baseline.json"]
    delete_lt("base-next")


def test_baseline_that_never_finished_fails(cluster):
    create_lt(loadtest("orphan", baseline={"loadTestRef": "no-such-run"}))
    st = wait_phase("orphan", "Failed")
    assert st["verdict"] == "Error" and "'no-such-run' does not exist" in st["reason"]
    assert children("orphan") == []


def test_delete_is_not_blocked(cluster):
    create_lt(loadtest("gone"))
    wait_phase("gone", "WaitingForTarget")
    kube.request("DELETE", f"{kube.collection(*LT, NS)}/gone")
    # any finalizer the operator holds is released promptly; the children go with their
    # owner through ownerReferences (the cluster's garbage collector, not emulated here)
    wait_until(lambda: kube.get(*LT, NS, "gone") is None, 30, "the LoadTest to be deleted")
    assert all(c["metadata"]["ownerReferences"][0]["name"] == "gone" for c in children("gone"))


def test_existing_child_is_adopted_not_duplicated(cluster):
    """A child left by an operator that died before recording progress: 409 is fine."""
    kube.request("POST", kube.collection("v1", "Service", NS), body={
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": names.master("pre"), "namespace": NS,
                     "labels": names.labels("pre", "master")},
        "spec": {"ports": [{"port": 5557}]}})
    create_lt(loadtest("pre"))
    wait_phase("pre", "WaitingForTarget")
    services = [o for o in cluster.objects("v1/services")
                if o["metadata"]["name"] == names.master("pre")]
    assert len(services) == 1
    delete_lt("pre")


def test_creation_to_children_latency_burst(cluster):
    """Five LoadTests at once: time from creation to all of their children (printed)."""
    t0 = time.monotonic()
    for i in range(5):
        create_lt(loadtest(f"burst-{i}"))
    done = {}
    while len(done) < 5 and time.monotonic() - t0 < 60:
        for i in range(5):
            if i not in done and len(children(f"burst-{i}")) == len(CHILD_KINDS):
                done[i] = time.monotonic() - t0
        time.sleep(0.25)  # the emulator shares this process: polling must not starve it
    assert len(done) == 5, f"children incomplete after 60s: {sorted(done)}"
    lat = sorted(done.values())
    print(f"\nburst of 5 LoadTests -> all children: median {lat[2]:.2f}s, max {lat[-1]:.2f}s")
    for i in range(5):
        delete_lt(f"burst-{i}")
