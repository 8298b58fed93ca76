"""Pure `build_*` functions: a parsed LoadTest + operator settings -> child manifests (dicts).

Pod layout shared by every Job:
  /config    the run's ConfigMap: loadtest.json (the LoadTest's runtime form, named by
             LOADGATE_CONFIG), locustfile.py (built-in), cpu_listener.py, shape.py
             (stages/breakpoint), baseline.json (when the spec names a finished baseline)
  /locustfile  the user's ConfigMap, only with spec.locustfile.configMapRef
  /results   subPath <name> of the results PVC (per run, or a shared claim)
  /tmp       emptyDir: the root filesystem is read-only
Owner references are added by the handler (kopf.adopt), not here.
"""

from __future__ import annotations

import json
import math

from loadgate.loadgen import CPU_LISTENER_FILE, LOCUSTFILE, SHAPE_FILE
from loadgate.loadgen.command import master_args, worker_args
from loadgate.spec import CONFIG_ENV, RUNTIME_FILE, runtime_json
from loadgate.urls import join
from loadgate_operator import names
from loadgate_operator.settings import OperatorSettings

CONFIG_DIR = "/config"
USER_LOCUSTFILE_DIR = "/locustfile"
RESULTS_DIR = "/results"
CSV_PREFIX = f"{RESULTS_DIR}/locust"
HTML_REPORT = f"{RESULTS_DIR}/report.html"
MASTER_PORT = 5557
RUNNER_UID = 10001
TERMINATION_LOG = "/dev/termination-log"

POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUNNER_UID,
    "runAsGroup": RUNNER_UID,
    "fsGroup": RUNNER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUNNER_UID,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESOURCES = {
    "master": {"requests": {"cpu": "200m", "memory": "256Mi"},
               "limits": {"cpu": "1", "memory": "512Mi"}},
    "workers": {"requests": {"cpu": "500m", "memory": "256Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"}},
    "collector": {"requests": {"cpu": "100m", "memory": "256Mi"},
                  "limits": {"cpu": "1", "memory": "1Gi"}},
    "wait": {"requests": {"cpu": "10m", "memory": "64Mi"},
             "limits": {"cpu": "200m", "memory": "128Mi"}},
}
ENV = [
    {"name": CONFIG_ENV, "value": f"{CONFIG_DIR}/{RUNTIME_FILE}"},
    {"name": "HOME", "value": "/tmp"},
    {"name": "MPLCONFIGDIR", "value": "/tmp/.cache/matplotlib"},
    {"name": "PYTHONUNBUFFERED", "value": "1"},
]


def _meta(lt, name: str, component: str) -> dict:
    return {"name": name, "namespace": lt.namespace, "labels": names.labels(lt.name, component)}


def locustfile_path(lt) -> str:
    if lt.locustfile is not None:
        return f"{USER_LOCUSTFILE_DIR}/{lt.locustfile.key}"
    return f"{CONFIG_DIR}/{LOCUSTFILE.name}"


def build_configmap(lt, *, baseline: dict | None = None) -> dict:
    """ConfigMap with the LoadTest's runtime form, the built-in Locust files and the baseline.

    The user's locustfile (configMapRef) is mounted from their own ConfigMap instead of ours.
    """
    data = {RUNTIME_FILE: runtime_json(lt), CPU_LISTENER_FILE.name: CPU_LISTENER_FILE.read_text()}
    if lt.locustfile is None:
        data[LOCUSTFILE.name] = LOCUSTFILE.read_text()
    if lt.load.mode != "constant":
        data[SHAPE_FILE.name] = SHAPE_FILE.read_text()
    if baseline is not None:
        data["baseline.json"] = json.dumps(baseline, indent=2, sort_keys=True)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(lt, names.config(lt.name), "config"), "data": data}


def build_results_pvc(lt, settings: OperatorSettings) -> dict | None:
    """A per-run PVC, or None when the operator writes into a shared claim's subPath."""
    if settings.results_claim:
        return None
    spec = {"accessModes": [settings.access_mode],
            "resources": {"requests": {"storage": settings.storage_size}}}
    if settings.storage_class:
        spec["storageClassName"] = settings.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(lt, names.results(lt.name), "results"), "spec": spec}


def results_claim(lt, settings: OperatorSettings) -> str:
    return settings.results_claim or names.results(lt.name)


def results_path(lt, settings: OperatorSettings) -> str:
    """Where the reports live, for status.resultsPath: pvc/<claim>/<name>."""
    return f"pvc/{results_claim(lt, settings)}/{lt.name}"


def build_master_service(lt) -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(lt, names.master(lt.name), "master"),
        "spec": {
            "selector": names.selector(lt.name, "master"),
            # workers must reach the master before it is "ready" (it has no readiness probe)
            "publishNotReadyAddresses": True,
            "ports": [{"name": "locust", "port": MASTER_PORT, "targetPort": MASTER_PORT,
                       "protocol": "TCP"}],
        },
    }


def _volumes(lt, settings: OperatorSettings, *, results: bool) -> list[dict]:
    vols = [{"name": "config", "configMap": {"name": names.config(lt.name)}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if lt.locustfile is not None:
        vols.append({"name": "locustfile",
                     "configMap": {"name": lt.locustfile.config_map_name}})
    if results:
        vols.append({"name": "results", "persistentVolumeClaim": {
            "claimName": results_claim(lt, settings)}})
    return vols


def _mounts(lt, settings: OperatorSettings, *, results: bool,
            results_read_only: bool = False) -> list[dict]:
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "tmp", "mountPath": "/tmp"}]
    if lt.locustfile is not None:
        mounts.append({"name": "locustfile", "mountPath": USER_LOCUSTFILE_DIR, "readOnly": True})
    if results:
        # every run's files live in <name>/ on its claim, per-run or shared, so
        # status.resultsPath (pvc/<claim>/<name>) is true in both layouts
        m = {"name": "results", "mountPath": RESULTS_DIR, "subPath": lt.name}
        if results_read_only:
            m["readOnly"] = True
        mounts.append(m)
    return mounts


def _container(name: str, settings: OperatorSettings, command: list[str], *, mounts, resources,
               ports=None) -> dict:
    c = {"name": name, "image": settings.runner_image,
         "imagePullPolicy": settings.image_pull_policy, "command": command,
         "env": [dict(e) for e in ENV], "volumeMounts": mounts,
         "resources": resources, "securityContext": CONTAINER_SECURITY,
         # a container that fails without writing /dev/termination-log (the wait step, a
         # crashing Locust) still tells why: the kubelet takes its log's tail instead
         "terminationMessagePolicy": "FallbackToLogsOnError"}
    if ports:
        c["ports"] = ports
    return c


def _job(lt, name: str, component: str, pod_spec: dict, *, parallelism: int = 1) -> dict:
    spec = {
        "backoffLimit": 0,
        "parallelism": parallelism,
        "completions": parallelism,
        "ttlSecondsAfterFinished": lt.ttl_seconds_after_finished,
        "activeDeadlineSeconds": max(1, math.ceil(lt.timeouts.deadline_s)),
        "template": {
            "metadata": {"labels": names.labels(lt.name, component)},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                # the command is not PID 1 then: the wait step and a Locust worker still
                # connecting install no SIGTERM handler, and PID 1 ignores SIGTERM without
                # one, so deleting the run would wait out the whole grace period
                "shareProcessNamespace": True,
                "securityContext": POD_SECURITY,
                **pod_spec,
            },
        },
    }
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": _meta(lt, name, component), "spec": spec}


def health_url(lt) -> str:
    return join(lt.target.url, lt.target.health_path)


def build_master_job(lt, settings: OperatorSettings) -> dict:
    args = master_args(lt, locustfile=locustfile_path(lt), csv_prefix=CSV_PREFIX,
                       html=HTML_REPORT, expect_workers=lt.workers, bind_port=MASTER_PORT,
                       loadgen_dir=CONFIG_DIR)
    wait = _container(
        "wait-for-target", settings,
        ["python", "-m", "loadgate.runner.ready", health_url(lt),
         "--timeout", str(math.ceil(lt.target.ready_timeout_s))],
        mounts=[{"name": "tmp", "mountPath": "/tmp"}], resources=RESOURCES["wait"])
    master = _container("master", settings, ["locust", *args],
                        mounts=_mounts(lt, settings, results=True),
                        resources=RESOURCES["master"],
                        ports=[{"name": "locust", "containerPort": MASTER_PORT}])
    return _job(lt, names.master(lt.name), "master", {
        "initContainers": [wait], "containers": [master],
        "volumes": _volumes(lt, settings, results=True)})


def build_worker_job(lt, settings: OperatorSettings) -> dict:
    args = worker_args(lt, locustfile=locustfile_path(lt), master_host=names.master(lt.name),
                       master_port=MASTER_PORT, loadgen_dir=CONFIG_DIR)
    worker = _container("worker", settings, ["locust", *args],
                        mounts=_mounts(lt, settings, results=False),
                        resources=RESOURCES["workers"])
    return _job(lt, names.workers(lt.name), "workers", {
        "containers": [worker], "volumes": _volumes(lt, settings, results=False)},
        parallelism=lt.workers)


def build_collector_job(lt, settings: OperatorSettings, *, with_baseline: bool = False) -> dict:
    cmd = ["loadgate", "collect", "--config", f"{CONFIG_DIR}/{RUNTIME_FILE}",
           "--results", RESULTS_DIR, "--termination-log", TERMINATION_LOG]
    if with_baseline:
        cmd += ["--baseline", f"{CONFIG_DIR}/baseline.json"]
    collector = _container("collector", settings, cmd,
                           mounts=_mounts(lt, settings, results=True),
                           resources=RESOURCES["collector"])
    return _job(lt, names.collector(lt.name), "collector", {
        "containers": [collector], "volumes": _volumes(lt, settings, results=True)})


def build_children(lt, settings: OperatorSettings, *, baseline: dict | None = None) -> list[dict]:
    """Everything created when a run starts, in creation order (the collector comes later)."""
    children = [build_configmap(lt, baseline=baseline)]
    pvc = build_results_pvc(lt, settings)
    if pvc is not None:
        children.append(pvc)
    children += [build_master_service(lt), build_master_job(lt, settings),
                 build_worker_job(lt, settings)]
    return children
