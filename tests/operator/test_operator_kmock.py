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
from support.kmock_emulator import Fault
from support.kube_controllers import (
    GarbageCollector,
    complete_job,
    evict,
    fail_job_by_policy,
    job_pod,
    now_iso,
    running,
    suspend_reaction,
    ttl_sweep,
    waiting,
)
from support.loadtests import loadtest_doc
from support.locust_runs import copy_results
from support.operator_process import NS
from support.polling import wait_until

pytestmark = pytest.mark.timeout(240)

LT = names.API_VERSION, names.KIND
# created with the run; the worker Job follows once the master runs, the collector at the end
CHILD_KINDS = [("v1", "ConfigMap", names.config), ("v1", "PersistentVolumeClaim", names.results),
               ("v1", "Service", names.master), ("batch/v1", "Job", names.master)]


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


JOB_NAMES = {"master": names.master, "workers": names.workers, "collector": names.collector}


def make_pod(lt_name: str, component: str, status: dict) -> dict:
    """A pod of the run's Job, created as the Job controller would, in the state given."""
    return job_pod(NS, JOB_NAMES[component](lt_name), status)


def job_status(name: str, status: dict) -> None:
    kube.patch("batch/v1", "Job", NS, name, {"status": status}, subresource="status")


def target_ready(lt_name: str) -> None:
    make_pod(lt_name, "master", {"initContainerStatuses": [
        {"name": "wait-for-target", "state": {"terminated": {"exitCode": 0}}}]})


def master_complete(lt_name: str) -> None:
    complete_job(NS, names.master(lt_name))


def collector_done(lt_name: str, message: str) -> None:
    make_pod(lt_name, "collector", {"containerStatuses": [
        {"name": "collector", "state": {"terminated": {"exitCode": 0, "message": message}}}]})


def warning_event(obj: dict, reason: str, message: str) -> None:
    """A Warning Event about `obj`, as a controller or the kubelet posts it."""
    meta = obj["metadata"]
    kube.request("POST", kube.collection("v1", "Event", NS), body={
        "apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": reason,
        "message": message, "metadata": {"name": f"{meta['name']}.{time.time_ns()}"},
        "involvedObject": {"kind": obj["kind"], "name": meta["name"], "namespace": NS,
                           "uid": meta["uid"]},
        "firstTimestamp": now_iso(0), "lastTimestamp": now_iso(0), "count": 1})


def events_for(name: str) -> list[dict]:
    evs = kube.request("GET", f"/api/v1/namespaces/{NS}/events")["items"]
    return [e for e in evs if (e.get("involvedObject") or {}).get("name") == name]


def loadgate_wait(cluster, name: str, timeout: str,
                  user: str = "test") -> subprocess.CompletedProcess:
    import os
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig_for(user)))
    return subprocess.run([sys.executable, "-m", "loadgate", "wait", name, "-n", NS,
                           "--timeout", timeout], env=env, capture_output=True, text=True,
                          timeout=60)


def workers_ready(name: str) -> None:
    wait_until(lambda: kube.get("batch/v1", "Job", NS, names.workers(name)), 30,
               "the worker Job")
    job_status(names.workers(name), {"active": 2, "ready": 2})


def run_to_collecting(name: str) -> None:
    wait_phase(name, "WaitingForTarget")
    target_ready(name)
    wait_phase(name, "Running")
    workers_ready(name)
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
    # a Succeeded run's Jobs are done or finishing: none is suspended
    assert not any(kube.get("batch/v1", "Job", NS, fn("smoke"))["spec"].get("suspend")
                   for fn in (names.master, names.workers, names.collector))
    lt_writes = {w for w in cluster.emulator.status_writes if w[0] == "loadtests"}
    assert lt_writes == {("loadtests", "status")}  # only ever via the status subresource

    # a run is immutable: a spec change afterwards is ignored, with a Warning Event
    kube.patch(*LT, NS, "smoke", {"spec": {"workers": 5}})
    wait_until(lambda: any(e["reason"] == "SpecChangeIgnored" for e in events_for("smoke")),
               20, "SpecChangeIgnored Event")
    assert kube.get("batch/v1", "Job", NS, "smoke-workers")["spec"]["parallelism"] == 2


def test_workers_start_once_the_master_runs(cluster):
    """Locust workers give up on a master that is not there after a few minutes: their Job
    is created only when the master's target wait is over, so a slow target or node scale-up
    cannot fail the run before workersConnect."""
    create_lt(loadtest("patient"))
    wait_phase("patient", "WaitingForTarget")
    assert kube.get("batch/v1", "Job", NS, names.master("patient")) is not None
    time.sleep(1.5)  # a few operator ticks
    assert kube.get("batch/v1", "Job", NS, names.workers("patient")) is None
    target_ready("patient")
    wait_phase("patient", "Running")
    workers = wait_until(lambda: kube.get("batch/v1", "Job", NS, names.workers("patient")), 30,
                         "the worker Job")
    assert workers["spec"]["parallelism"] == 2
    delete_lt("patient")


def test_ttl_cannot_eat_a_result(cluster, collector_messages):
    """ttlSecondsAfterFinished: 0 — the TTL controller deletes a finished Job at once. The
    Jobs carry no TTL until the run has its verdict, so the collector's outcome is read; then
    they get it, and a Job gone after the verdict restarts nothing."""
    create_lt(loadtest("brief", ttlSecondsAfterFinished=0))
    run_to_collecting("brief")
    jobs = [names.master("brief"), names.workers("brief"), names.collector("brief")]
    for job in jobs:
        assert "ttlSecondsAfterFinished" not in kube.get("batch/v1", "Job", NS, job)["spec"]
    collector_done("brief", collector_messages["Pass"])
    complete_job(NS, names.collector("brief"))
    assert ttl_sweep(NS) == []  # the TTL controller finds nothing to delete
    assert wait_phase("brief", "Succeeded")["verdict"] == "Pass"
    wait_until(lambda: all(kube.get("batch/v1", "Job", NS, j)["spec"].get(
        "ttlSecondsAfterFinished") == 0 for j in jobs), 30, "the TTL on every Job")
    assert sorted(ttl_sweep(NS)) == sorted([names.master("brief"), names.collector("brief")])
    time.sleep(1.5)  # a few operator ticks: nothing comes back
    assert kube.get("batch/v1", "Job", NS, names.collector("brief")) is None
    assert status_of("brief")["verdict"] == "Pass"
    delete_lt("brief")


def test_image_pull_backoff_fails_the_run_at_once(cluster):
    """The kubelet already retried the pull once: no grace (printed: how long it takes)."""
    create_lt(loadtest("nopull"))
    wait_phase("nopull", "WaitingForTarget")
    t0 = time.monotonic()
    pod = make_pod("nopull", "master", {"initContainerStatuses": [waiting(
        "wait-for-target", "ImagePullBackOff",
        'Back-off pulling image "registry.test/loadgate:1.0"')]})
    st = wait_phase("nopull", "Failed")
    print(f"\npod in ImagePullBackOff -> LoadTest Failed: {time.monotonic() - t0:.2f}s")
    assert st["verdict"] == "Error" and st["reason"] == (
        f"pod {pod['metadata']['name']} cannot start: container wait-for-target: "
        'ImagePullBackOff: Back-off pulling image "registry.test/loadgate:1.0"')
    assert [c["reason"] for c in st["conditions"] if c["type"] == "TargetReady"] == [
        "PodStartFailed"]
    delete_lt("nopull")


def test_results_volume_that_never_binds_fails_after_the_grace(cluster):
    """A PVC left Pending (here: its StorageClass does not exist) ends the run once that
    lasted LOADGATE_POD_START_GRACE (3s in these tests), with the provisioner's Event."""
    create_lt(loadtest("unbound"))
    wait_phase("unbound", "WaitingForTarget")
    pvc = kube.patch("v1", "PersistentVolumeClaim", NS, names.results("unbound"),
                     {"status": {"phase": "Pending"}}, subresource="status")
    warning_event(pvc, "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found')
    st = wait_phase("unbound", "Failed", timeout=30)
    assert st["reason"] == ("the results PVC unbound-results is still Pending after 3s: "
                            'ProvisioningFailed: storageclass.storage.k8s.io "fast" not found')
    delete_lt("unbound")


def test_missing_locustfile_configmap_fails_after_one_retry(cluster):
    create_lt(loadtest("nolf", locustfile={"configMapRef": {"name": "absent-lf"}}))
    st = wait_phase("nolf", "Failed", timeout=30)
    assert st["reason"] == ("the locustfile ConfigMap 'absent-lf' (spec.locustfile."
                            "configMapRef) does not exist in namespace 'lg'")
    assert children("nolf") == []  # no pod left waiting in ContainerCreating for ever
    delete_lt("nolf")


def test_evicted_worker_ends_the_run_as_disrupted(cluster):
    """An eviction (DisruptionTarget) fails the worker Job through its podFailurePolicy, and
    the run says so, instead of a bare BackoffLimitExceeded."""
    create_lt(loadtest("evicted"))
    wait_phase("evicted", "WaitingForTarget")
    target_ready("evicted")
    wait_phase("evicted", "Running")
    workers_ready("evicted")
    pod = make_pod("evicted", "workers", {"phase": "Running",
                                          "containerStatuses": [running("worker")]})
    pod = evict(pod)
    fail_job_by_policy(NS, names.workers("evicted"), pod)
    st = wait_phase("evicted", "Failed")
    assert st["reason"].startswith(
        f"the worker Job failed: pod {pod['metadata']['name']} was disrupted "
        "(EvictionByEvictionAPI: Eviction API: evicting)")
    assert [c["reason"] for c in st["conditions"] if c["type"] == "WorkersConnected"] == [
        "Disrupted"]
    delete_lt("evicted")


def test_wait_rides_out_a_flaky_api_server(cluster):
    """5xx, 429 and dropped connections are retried with backoff: the verdict decides."""
    wait_phase("smoke", "Succeeded")  # Pass, from test_pass_run_end_to_end
    fault = Fault("flaky", "/loadtests/smoke",
                  [503, 429, "reset", "reset", "reset", "reset", 500])
    cluster.emulator.faults.append(fault)
    proc = loadgate_wait(cluster, "smoke", "60s", user="flaky")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fault.served == 7 and "verdict Pass" in proc.stdout
    assert "reading the LoadTest failed (503 Service Unavailable); retrying" in proc.stdout
    assert "reading the LoadTest failed (no answer: ProtocolError" in proc.stdout  # resets


def test_wait_never_says_fail_for_an_api_it_cannot_read(cluster):
    """Exit 1 would roll back an Argo Rollouts analysis: a persistent API error is 2."""
    cluster.emulator.faults.append(Fault("denied", "/loadtests/", forever=403))
    t0 = time.monotonic()
    proc = loadgate_wait(cluster, "smoke", "60s", user="denied")
    assert proc.returncode == 2 and time.monotonic() - t0 < 30  # at once, not at the timeout
    assert "cannot read LoadTest lg/smoke: 403 Forbidden (not retried)" in proc.stdout
    cluster.emulator.faults.append(Fault("down", "/loadtests/", forever=503))
    proc = loadgate_wait(cluster, "smoke", "3s", user="down")
    assert proc.returncode == 2
    assert "timed out after 3s waiting for lg/smoke (last API error: 503 Service " \
           "Unavailable)" in proc.stdout


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
    create_lt(loadtest("stuck"))
    wait_phase("stuck", "WaitingForTarget")
    # as if the run had started ten minutes ago: its default deadline (30s ready + 10s load +
    # 10s stop + 2m) has passed
    kube.patch(*LT, NS, "stuck", {"status": {"startTime": now_iso(-600)}},
               subresource="status")
    st = wait_phase("stuck", "Failed", timeout=40)
    assert st["verdict"] == "Error"
    assert st["reason"] == ("the run did not finish within its deadline of 170s "
                            "(phase was WaitingForTarget)")
    # kopf posts Events in the background: the status can land before the Event does
    wait_until(lambda: any(e["reason"] == "VerdictError" for e in events_for("stuck")), 20,
               "the VerdictError Event")
    proc = loadgate_wait(cluster, "stuck", "5s")
    assert proc.returncode == 2


def test_a_failed_run_stops_sending_load(cluster):
    """Past its deadline while the master and 2 workers run: the run is Failed and both Jobs
    are suspended, so the Job controller deletes their pods now, not at activeDeadlineSeconds
    (minutes of load against a target the run already gave up on)."""
    create_lt(loadtest("runaway"))
    wait_phase("runaway", "WaitingForTarget")
    target_ready("runaway")
    wait_phase("runaway", "Running")
    workers_ready("runaway")
    for _ in range(2):
        make_pod("runaway", "workers", {"phase": "Running", "containerStatuses": [
            running("worker")]})
    master_job = kube.get("batch/v1", "Job", NS, names.master("runaway"))
    assert not master_job["spec"].get("suspend")
    run_pods = {"labelSelector": "loadgate.dev/loadtest=runaway"}
    assert len(kube.request("GET", kube.collection("v1", "Pod", NS), query=run_pods)["items"]) == 3
    kube.patch(*LT, NS, "runaway", {"status": {"startTime": now_iso(-600)}},
               subresource="status")
    st = wait_phase("runaway", "Failed", timeout=40)
    assert st["reason"].startswith("the run did not finish within its deadline")
    jobs = [names.master("runaway"), names.workers("runaway")]
    wait_until(lambda: all(kube.get("batch/v1", "Job", NS, j)["spec"].get("suspend") is True
                           for j in jobs), 20, "both load Jobs suspended")
    # the Job controller's part: the pods go (the master's 1, the workers' 2)
    assert [len(suspend_reaction(NS, j)) for j in jobs] == [1, 2]
    assert kube.request("GET", kube.collection("v1", "Pod", NS), query=run_pods)["items"] == []
    time.sleep(1.5)  # a few operator ticks: the verdict stands, nothing is recreated
    assert status_of("runaway")["phase"] == "Failed"
    assert kube.get("batch/v1", "Job", NS, names.collector("runaway")) is None
    delete_lt("runaway")


def test_deadline_shorter_than_the_run_is_an_invalid_spec(cluster):
    create_lt(loadtest("hasty", timeouts={"deadline": "1m"}))
    st = wait_phase("hasty", "Failed")
    assert st["verdict"] == "Error" and st["reason"].startswith(
        "invalid spec: spec.timeouts.deadline: must be at least 2m50s = target.readyTimeout 30s")
    assert children("hasty") == []


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


def test_local_only_header_fails_with_reason(cluster):
    create_lt(loadtest("envkey", target={"headers": [
        {"name": "X-Api-Key", "valueFrom": {"env": "MY_KEY"}}]}))
    st = wait_phase("envkey", "Failed")
    assert st["verdict"] == "Error" and "use valueFrom.secretKeyRef" in st["reason"]
    assert children("envkey") == []


def test_restart_mid_run_no_duplicates(cluster, collector_messages):
    create_lt(loadtest("restart"))
    wait_phase("restart", "WaitingForTarget")
    cluster.operator.stop()
    target_ready("restart")  # happens while no operator runs
    cluster.operator.start()
    wait_phase("restart", "Running", timeout=60)
    workers_ready("restart")
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


def test_foreign_object_holding_a_childs_name_fails_the_run(cluster):
    """An object nobody will delete (no owner: e.g. left by `--cascade=orphan`) is never
    taken for this run's child."""
    kube.request("POST", kube.collection("v1", "Service", NS), body={
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": names.master("pre"), "namespace": NS,
                     "labels": names.labels("pre", "master")},
        "spec": {"ports": [{"port": 5557}]}})
    create_lt(loadtest("pre"))
    st = wait_phase("pre", "Failed")
    assert st["reason"] == ("Service pre-master already exists and is not this run's (owned by "
                            "nothing); delete it or rename the LoadTest")
    delete_lt("pre")


def test_recreated_loadtest_never_inherits_the_last_run(cluster, collector_messages):
    """`kubectl delete lt x && kubectl create -f x.yaml` while the garbage collector still
    deletes the old children (they linger with a deletionTimestamp, the old collector's pod
    with its Fail verdict too): the new run waits, gets fresh children and its own verdict."""
    old = create_lt(loadtest("again"))
    run_to_collecting("again")
    collector_done("again", collector_messages["Fail"])
    assert wait_phase("again", "Succeeded")["verdict"] == "Fail"
    delete_lt("again")
    wait_until(lambda: kube.get(*LT, NS, "again") is None, 30, "the old LoadTest to go")
    gc = GarbageCollector(NS, names.label_selector("again"))
    assert len(gc.collect()) == len(CHILD_KINDS) + 2  # with its worker and collector Jobs

    new = create_lt(loadtest("again"))
    st = wait_until(lambda: (st := status_of("again")).get("phase") == "Pending" and st, 30,
                    "Pending while the old children go")
    assert "of an earlier run is still being deleted" in st["reason"]
    gc.release()
    gc.collect()  # the old Jobs are gone: their pods are deleted next and linger too
    wait_phase("again", "WaitingForTarget", timeout=60)
    uid = new["metadata"]["uid"]
    assert uid != old["metadata"]["uid"]
    kids = children("again")
    assert len(kids) == len(CHILD_KINDS)
    assert all(k["metadata"]["ownerReferences"][0]["uid"] == uid for k in kids)
    # the old master pod (target ready) and collector pod (verdict Fail) are still listed
    # under the same labels: they are not this run's
    time.sleep(2)
    assert status_of("again")["phase"] == "WaitingForTarget"
    run_to_collecting("again")
    collector_done("again", collector_messages["Pass"])
    assert wait_phase("again", "Succeeded")["verdict"] == "Pass"
    gc.release()
    delete_lt("again")


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


def test_operator_needed_nothing_the_chart_does_not_grant(cluster):
    """Runs last: every request of the whole module's operator passed the chart's namespaced
    Role (and the owner-reference admission check of stricter clusters), and kopf started
    without falling back for missing permissions."""
    assert cluster.emulator.forbidden == []
    assert "Not enough permissions" not in cluster.operator.log.read_text()
