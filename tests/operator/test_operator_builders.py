"""Pure builders: whole-dict comparisons for each child and each spec variant."""

from __future__ import annotations

import json

import pytest
from loadgate_operator import builders, names
from loadgate_operator.settings import OperatorSettings
from support.loadtests import loadtest_doc

from loadgate.loadgen import (
    CPU_LISTENER_FILE,
    LATENCY_LISTENER_FILE,
    LOCUSTFILE,
    RATE_DRIVER_FILE,
    SHAPE_FILE,
)
from loadgate.loadgen.command import master_args, worker_args
from loadgate.spec import parse

SETTINGS = OperatorSettings(runner_image="reg.example/loadgate:1.2", image_pull_policy="Always",
                            storage_class="fast", storage_size="2Gi")
SHARED = OperatorSettings(results_claim="loadgate-results")

LOADS = {
    "constant": {"users": 20, "spawnRate": 5, "runTime": "1m", "stopTimeout": "5s"},
    "stages": {"stages": [{"duration": "30s", "users": 10, "spawnRate": 10},
                          {"duration": "1m", "users": 40, "spawnRate": 5}]},
    "breakpoint": {"breakpoint": {"startUsers": 5, "stepUsers": 5, "stepDuration": "15s",
                                  "maxUsers": 100}},
    "rate": {"rateStages": [{"duration": "1m", "rps": 10, "name": "steady"},
                            {"duration": "30s", "rps": 80, "name": "spike",
                             "thresholds": {"p95Ms": 2000}}], "maxInFlight": 64},
}


def doc(name="ramp", load="constant", **extra) -> dict:
    spec = {"target": {"url": "http://model-server:8000", "readyTimeout": "2m"},
            "load": LOADS[load], "workers": 3, "thresholds": {"p95Ms": 500},
            "timeouts": {"workersConnect": "1m", "deadline": "20m"},
            "ttlSecondsAfterFinished": 3600}
    return loadtest_doc(name, namespace="perf", **{**spec, **extra})


def labels(component, name="ramp"):
    return {"app.kubernetes.io/name": "loadgate", "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/managed-by": "loadgate-operator", "loadgate.dev/loadtest": name}


POD_SEC = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
           "seccompProfile": {"type": "RuntimeDefault"}}
CTR_SEC = {"runAsNonRoot": True, "runAsUser": 10001, "readOnlyRootFilesystem": True,
           "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
           "seccompProfile": {"type": "RuntimeDefault"}}
ENV = [{"name": "LOADGATE_CONFIG", "value": "/config/loadtest.json"},
       {"name": "HOME", "value": "/tmp"},
       {"name": "MPLCONFIGDIR", "value": "/tmp/.cache/matplotlib"},
       {"name": "PYTHONUNBUFFERED", "value": "1"}]


POD_ANNOTATIONS = {"linkerd.io/inject": "disabled",
                   "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                   "karpenter.sh/do-not-disrupt": "true"}
DISRUPTED = {"rules": [{"action": "FailJob", "onPodConditions": [
    {"type": "DisruptionTarget", "status": "True"}]}]}


def job(name, component, pod_spec, parallelism=1, lt_name="ramp"):
    # the run's deadline (20m) + a minute for Locust to exit; the collector has its own 5m
    deadline = 300 if component == "collector" else 1260
    pod_labels = {"sidecar.istio.io/inject": "false", **labels(component, lt_name)}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "perf", "labels": labels(component, lt_name)},
            "spec": {"backoffLimit": 0, "podFailurePolicy": DISRUPTED,
                     "parallelism": parallelism, "completions": parallelism,
                     "activeDeadlineSeconds": deadline,  # no TTL before the verdict
                     "template": {"metadata": {"labels": pod_labels,
                                               "annotations": POD_ANNOTATIONS}, "spec": {
                         "restartPolicy": "Never", "automountServiceAccountToken": False,
                         "enableServiceLinks": False, "shareProcessNamespace": True,
                         "securityContext": POD_SEC,
                         **pod_spec}}}}


def container(name, command, mounts, resources, settings=SETTINGS, **extra):
    return {"name": name, "image": settings.runner_image,
            "imagePullPolicy": settings.image_pull_policy, "command": command, "env": ENV,
            "volumeMounts": mounts, "resources": resources, "securityContext": CTR_SEC,
            "terminationMessagePolicy": "FallbackToLogsOnError", **extra}


CONFIG_MOUNT = {"name": "config", "mountPath": "/config", "readOnly": True}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}
RESULTS_MOUNT = {"name": "results", "mountPath": "/results", "subPath": "ramp"}
CONFIG_VOL = {"name": "config", "configMap": {"name": "ramp-config"}}
TMP_VOL = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}
RESULTS_VOL = {"name": "results", "persistentVolumeClaim": {"claimName": "ramp-results"}}


@pytest.mark.parametrize("load", sorted(LOADS))
def test_master_job_per_load_mode(load):
    lt = parse(doc(load=load))
    args = master_args(lt, locustfile="/config/locustfile.py", csv_prefix="/results/locust",
                       html="/results/report.html", expect_workers=3, bind_port=5557,
                       loadgen_dir="/config")
    assert builders.build_master_job(lt, SETTINGS) == job("ramp-master", "master", {
        "initContainers": [container(
            "wait-for-target",
            ["python", "-m", "loadgate.runner.ready", "http://model-server:8000/health",
             "--timeout", "120"], [TMP_MOUNT], builders.RESOURCES["wait"])],
        "containers": [container("master", ["locust", *args],
                                 [CONFIG_MOUNT, TMP_MOUNT, RESULTS_MOUNT],
                                 builders.RESOURCES["master"],
                                 ports=[{"name": "locust", "containerPort": 5557}])],
        "volumes": [CONFIG_VOL, TMP_VOL, RESULTS_VOL]})


@pytest.mark.parametrize("load", sorted(LOADS))
def test_worker_job_per_load_mode(load):
    lt = parse(doc(load=load))
    args = worker_args(lt, locustfile="/config/locustfile.py", master_host="ramp-master",
                       master_port=5557, loadgen_dir="/config")
    assert builders.build_worker_job(lt, SETTINGS) == job("ramp-workers", "workers", {
        "containers": [container("worker", ["locust", *args], [CONFIG_MOUNT, TMP_MOUNT],
                                 builders.RESOURCES["workers"])],
        "volumes": [CONFIG_VOL, TMP_VOL]}, parallelism=3)


@pytest.mark.parametrize("load", sorted(LOADS))
def test_configmap_per_load_mode(load):
    d = doc(load=load)
    lt = parse(d)
    data = {"loadtest.json": json.dumps(d, indent=2, sort_keys=True),
            "locustfile.py": LOCUSTFILE.read_text(),
            "cpu_listener.py": CPU_LISTENER_FILE.read_text(),
            "latency_listener.py": LATENCY_LISTENER_FILE.read_text()}
    if load != "constant":  # the master loads -f locustfile.py,...,shape.py
        data["shape.py"] = SHAPE_FILE.read_text()
    if load == "rate":  # every process loads rate_driver.py: the open-loop driver user
        data["rate_driver.py"] = RATE_DRIVER_FILE.read_text()
    assert builders.build_configmap(lt) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ramp-config", "namespace": "perf", "labels": labels("config")},
        "data": data}
    # the Locust processes and the collector parse loadtest.json back into the same LoadTest
    assert parse(json.loads(builders.build_configmap(lt)["data"]["loadtest.json"])) == lt


def test_user_locustfile_mounts_their_configmap():
    lt = parse(doc(locustfile={"configMapRef": {"name": "my-lf", "key": "traffic.py"}}))
    cm = builders.build_configmap(lt)
    assert sorted(cm["data"]) == ["cpu_listener.py", "latency_listener.py",
                                  "loadtest.json"]  # no built-in locustfile
    user_mount = {"name": "locustfile", "mountPath": "/locustfile", "readOnly": True}
    user_vol = {"name": "locustfile", "configMap": {"name": "my-lf"}}
    args = worker_args(lt, locustfile="/locustfile/traffic.py", master_host="ramp-master",
                       master_port=5557, loadgen_dir="/config")
    assert builders.build_worker_job(lt, SETTINGS) == job("ramp-workers", "workers", {
        "containers": [container("worker", ["locust", *args],
                                 [CONFIG_MOUNT, TMP_MOUNT, user_mount],
                                 builders.RESOURCES["workers"])],
        "volumes": [CONFIG_VOL, TMP_VOL, user_vol]}, parallelism=3)
    master = builders.build_master_job(lt, SETTINGS)["spec"]["template"]["spec"]
    assert master["containers"][0]["command"] == ["locust", *master_args(
        lt, locustfile="/locustfile/traffic.py", csv_prefix="/results/locust",
        html="/results/report.html", expect_workers=3, bind_port=5557, loadgen_dir="/config")]
    assert master["volumes"] == [CONFIG_VOL, TMP_VOL, user_vol, RESULTS_VOL]


def test_results_pvc_and_service():
    lt = parse(doc())
    assert builders.build_results_pvc(lt, SETTINGS) == {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "ramp-results", "namespace": "perf", "labels": labels("results")},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                 "resources": {"requests": {"storage": "2Gi"}}}}
    assert builders.build_master_service(lt) == {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ramp-master", "namespace": "perf", "labels": labels("master")},
        "spec": {"selector": {"loadgate.dev/loadtest": "ramp",
                              "app.kubernetes.io/managed-by": "loadgate-operator",
                              "app.kubernetes.io/component": "master"},
                 "publishNotReadyAddresses": True,
                 "ports": [{"name": "locust", "port": 5557, "targetPort": 5557,
                            "protocol": "TCP"}]}}
    assert builders.results_path(lt, SETTINGS) == "pvc/ramp-results/ramp"


def test_shared_claim_uses_subpath_and_no_pvc():
    lt = parse(doc())
    assert builders.build_results_pvc(lt, SHARED) is None
    assert [c["kind"] for c in builders.build_children(lt, SHARED)] == [
        "ConfigMap", "Service", "Job"]
    assert builders.results_path(lt, SHARED) == "pvc/loadgate-results/ramp"
    shared_vol = {"name": "results",
                  "persistentVolumeClaim": {"claimName": "loadgate-results"}}
    assert builders.build_collector_job(lt, SHARED) == job("ramp-collector", "collector", {
        "containers": [container(
            "collector", ["loadgate", "collect", "--config", "/config/loadtest.json",
                          "--results", "/results", "--termination-log", "/dev/termination-log"],
            [CONFIG_MOUNT, TMP_MOUNT, RESULTS_MOUNT],
            builders.RESOURCES["collector"], settings=SHARED)],
        "volumes": [CONFIG_VOL, TMP_VOL, shared_vol]})


def test_collector_with_baseline():
    lt = parse(doc(baseline={"loadTestRef": "ramp-prev", "maxRegressionPct": 5}))
    base = {"name": "ramp-prev", "summary": {"rps": 10.0, "p95Ms": 100}}
    cm = builders.build_configmap(lt, baseline=base)
    assert json.loads(cm["data"]["baseline.json"]) == base
    cmd = builders.build_collector_job(lt, SETTINGS, with_baseline=True)[
        "spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[-2:] == ["--baseline", "/config/baseline.json"]


def test_children_in_creation_order_with_standard_labels():
    lt = parse(doc())
    kids = builders.build_children(lt, SETTINGS)
    assert [(c["kind"], c["metadata"]["name"]) for c in kids] == [
        ("ConfigMap", "ramp-config"), ("PersistentVolumeClaim", "ramp-results"),
        ("Service", "ramp-master"), ("Job", "ramp-master")]  # workers: once the master runs
    for c in kids:
        assert c["metadata"]["labels"]["loadgate.dev/loadtest"] == "ramp"


def test_mesh_and_eviction_opt_outs_can_be_turned_off():
    plain = OperatorSettings(disable_mesh_sidecars=False, prevent_eviction=False)
    for j in (builders.build_master_job(parse(doc()), plain),
              builders.build_collector_job(parse(doc()), plain)):
        meta = j["spec"]["template"]["metadata"]
        assert meta == {"labels": j["metadata"]["labels"]}
    only_mesh = OperatorSettings(prevent_eviction=False)
    meta = builders.build_worker_job(parse(doc()), only_mesh)["spec"]["template"]["metadata"]
    assert meta["annotations"] == {"linkerd.io/inject": "disabled"}


FITTED = OperatorSettings(
    image_pull_secrets=["regcred"], node_selector={"pool": "loadgen"},
    tolerations=[{"key": "loadgen", "operator": "Exists", "effect": "NoSchedule"}],
    affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    service_account_name="loadgen", pod_labels={"team": "ml", "app.kubernetes.io/name": "x"},
    pod_annotations={"example.com/cost-center": "perf", "karpenter.sh/do-not-disrupt": "false"},
    resources={"workers": {"requests": {"cpu": "2", "memory": "1Gi"},
                           "limits": {"cpu": "2", "memory": "1Gi"}}})


def test_runner_pods_fit_the_cluster():
    """Pull secrets, service account, node selection, tolerations, affinity, extra labels and
    annotations reach every Job's pods; resources per component."""
    lt = parse(doc())
    jobs = {"master": builders.build_master_job(lt, FITTED),
            "workers": builders.build_worker_job(lt, FITTED),
            "collector": builders.build_collector_job(lt, FITTED)}
    for component, j in jobs.items():
        pod = j["spec"]["template"]
        spec = pod["spec"]
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]
        assert spec["serviceAccountName"] == "loadgen"
        assert spec["automountServiceAccountToken"] is False  # still no token
        assert spec["nodeSelector"] == {"pool": "loadgen"}
        assert spec["tolerations"] == FITTED.tolerations and spec["affinity"] == FITTED.affinity
        # extra labels join ours, which win (the Service and the operator select by them)
        assert pod["metadata"]["labels"] == {"sidecar.istio.io/inject": "false", "team": "ml",
                                             **labels(component)}
        assert pod["metadata"]["annotations"] == {**POD_ANNOTATIONS,
                                                  "example.com/cost-center": "perf",
                                                  "karpenter.sh/do-not-disrupt": "false"}
    worker = jobs["workers"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["resources"] == FITTED.resources["workers"]
    master = jobs["master"]["spec"]["template"]["spec"]
    assert master["containers"][0]["resources"] == builders.RESOURCES["master"]
    assert master["initContainers"][0]["resources"] == builders.RESOURCES["wait"]


def test_workers_request_what_they_may_use():
    """Guaranteed QoS by default: a generator throttled below its limit would pass as healthy."""
    res = builders.build_worker_job(parse(doc()), SETTINGS)[
        "spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res["requests"] == res["limits"] == {"cpu": "1", "memory": "512Mi"}


@pytest.mark.parametrize("settings", [SETTINGS, SHARED, FITTED], ids=["default", "shared", "fitted"])
def test_every_child_validates_strictly(settings):
    """Every object the builders make is valid Kubernetes (1.33 schemas, strict: no unknown
    field), podFailurePolicy and the scheduling fields included."""
    import kubernetes_validate

    lt = parse(doc(load="stages", locustfile={"configMapRef": {"name": "lf"}}))
    objs = [*builders.build_children(lt, settings), builders.build_worker_job(lt, settings),
            builders.build_collector_job(lt, settings, with_baseline=True)]
    for obj in objs:
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_job_deadlines_never_cut_locust_short():
    """Locust's own limits (target wait, workers' connect wait, run-time cap, stop timeout)
    all end before its Job's deadline; the collector gets its own budget."""
    from loadgate.loadgen.command import run_time_cap_s

    lt = parse(doc(load="breakpoint", target={"url": "http://m:8000", "readyTimeout": "5m"},
                   timeouts={"workersConnect": "10m"}))
    assert lt.timeouts.deadline_s == 300 + 300 + 10 + 120  # the default: the parser's minimum
    locust_done = 300 + 600 + run_time_cap_s(lt) + 10
    for j in (builders.build_master_job(lt, SETTINGS), builders.build_worker_job(lt, SETTINGS)):
        assert j["spec"]["activeDeadlineSeconds"] >= locust_done + 60
    assert builders.build_collector_job(lt, SETTINGS)["spec"]["activeDeadlineSeconds"] == 300


def test_long_names_truncate_with_hash():
    long = "a" * 60
    n1, n2 = names.master(long), names.master(long + "b")
    assert len(n1) <= 63 and len(n2) <= 63 and n1 != n2
    assert names.master("short") == "short-master"
    assert names.labels(long, "master")["loadgate.dev/loadtest"] == names.truncate(long)
    with pytest.raises(ValueError):
        names.child_name("x", "sidecar")


def test_settings_from_env():
    assert OperatorSettings.from_env({}) == OperatorSettings()
    s = OperatorSettings.from_env({"LOADGATE_RUNNER_IMAGE": "r/x:1",
                                   "LOADGATE_RESULTS_CLAIM": "shared",
                                   "LOADGATE_ACCESS_MODE": "ReadWriteMany"})
    assert (s.runner_image, s.results_claim, s.access_mode) == ("r/x:1", "shared",
                                                                "ReadWriteMany")
    with pytest.raises(ValueError, match="LOADGATE_ACCESS_MODE"):
        OperatorSettings.from_env({"LOADGATE_ACCESS_MODE": "Sometimes"})
    # the timer interval and the watch timeout are settings too (tests shorten the interval)
    s = OperatorSettings.from_env({"LOADGATE_OPERATOR_INTERVAL": "0.5",
                                   "LOADGATE_WATCH_TIMEOUT": "60", "LOADGATE_STORAGE_SIZE": ""})
    assert (s.operator_interval, s.watch_timeout, s.storage_size) == (0.5, 60, "1Gi")
    with pytest.raises(ValueError, match="LOADGATE_OPERATOR_INTERVAL"):
        OperatorSettings.from_env({"LOADGATE_OPERATOR_INTERVAL": "0"})
    # durations as the chart writes them
    assert OperatorSettings().pod_start_grace == 120
    assert OperatorSettings.from_env({"LOADGATE_POD_START_GRACE": "1m30s"}).pod_start_grace == 90
    with pytest.raises(ValueError, match="LOADGATE_POD_START_GRACE"):
        OperatorSettings.from_env({"LOADGATE_POD_START_GRACE": "soon"})
    # lists and mappings are JSON, as the chart's toJson writes them
    s = OperatorSettings.from_env({
        "LOADGATE_IMAGE_PULL_SECRETS": '[{"name": "regcred"}]',
        "LOADGATE_NODE_SELECTOR": '{"pool": "loadgen"}', "LOADGATE_TOLERATIONS": "[]",
        "LOADGATE_RESOURCES": '{"workers": {"limits": {"cpu": "2"}}}'})
    assert (s.image_pull_secrets, s.node_selector, s.tolerations) == (["regcred"],
                                                                       {"pool": "loadgen"}, [])
    assert s.resources == {"workers": {"limits": {"cpu": "2"}}}
    with pytest.raises(ValueError, match="LOADGATE_AFFINITY: not JSON"):
        OperatorSettings.from_env({"LOADGATE_AFFINITY": "{nodeAffinity"})
    with pytest.raises(ValueError, match="LOADGATE_RESOURCES"):
        OperatorSettings.from_env({"LOADGATE_RESOURCES": '{"sidecar": {}}'})
