"""Pure `build_*` functions: a parsed LoadTest + operator settings -> child manifests (dicts).

Pod layout shared by every Job:
  /config    the run's ConfigMap: loadtest.json (the LoadTest's runtime form, named by
             LOADGATE_CONFIG), locustfile.py (built-in), cpu_listener.py,
             latency_listener.py, shape.py (shaped loads), rate_driver.py (rate loads),
             baseline.json (when the spec names a finished baseline)
  /locustfile  the user's ConfigMap, only with spec.locustfile.configMapRef
  /results   subPath <name> of the results PVC (per run, or a shared claim)
  /tmp       emptyDir: the root filesystem is read-only
Header values from Secrets (spec.target.headers[].valueFrom.secretKeyRef) reach the Locust
containers and the readiness wait as env vars LOADGATE_HEADER_<NAME> only, never the
ConfigMap (header_env).
Owner references are added by the handler (kopf.adopt), not here.
"""

from __future__ import annotations

import copy
import json
import math

from loadgate.loadgen import LOCUSTFILE
from loadgate.loadgen.command import loadgen_files, master_args, run_time_cap_s, worker_args
from loadgate.spec import CONFIG_ENV, RUNTIME_FILE, runtime_json, secret_env_var
from loadgate.urls import join
from loadgate_operator import names
from loadgate_operator.settings import OperatorSettings
from loadgate_operator.status import COLLECTOR_BUDGET_S

CONFIG_DIR = "/config"
USER_LOCUSTFILE_DIR = "/locustfile"
RESULTS_DIR = "/results"
CSV_PREFIX = f"{RESULTS_DIR}/locust"
HTML_REPORT = f"{RESULTS_DIR}/report.html"
MASTER_PORT = 5557
RUNNER_UID = 10001
TERMINATION_LOG = "/dev/termination-log"
JOB_EXIT_GRACE_S = 60.0  # after Locust's last possible second: its exit and report writing

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
    # requests = limits: a worker throttled below its limit on a busy node would read as a
    # healthy generator (the Invalid guard), so each gets its core for sure (Guaranteed QoS)
    "workers": {"requests": {"cpu": "1", "memory": "512Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"}},
    "collector": {"requests": {"cpu": "100m", "memory": "256Mi"},
                  "limits": {"cpu": "1", "memory": "1Gi"}},
    "wait": {"requests": {"cpu": "10m", "memory": "64Mi"},
             "limits": {"cpu": "200m", "memory": "128Mi"}},
}
# a pod evicted or preempted fails its Job with reason PodFailurePolicy naming DisruptionTarget
# (status: Disrupted), not a bare BackoffLimitExceeded
POD_FAILURE_POLICY = {"rules": [{"action": "FailJob", "onPodConditions": [
    {"type": "DisruptionTarget", "status": "True"}]}]}
# settings.disable_mesh_sidecars: Istio (label) and Linkerd (annotation) inject no proxy
MESH_LABELS = {"sidecar.istio.io/inject": "false"}
MESH_ANNOTATIONS = {"linkerd.io/inject": "disabled"}
# settings.prevent_eviction: the cluster autoscaler and Karpenter leave a running test alone
NO_EVICTION_ANNOTATIONS = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                           "karpenter.sh/do-not-disrupt": "true"}
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


def header_env(lt) -> list[dict]:
    """Env of the Locust containers: each header value from a Secret, by reference (the
    kubelet reads the Secret; the locustfile reads the variable, see loadgate.spec.headers)."""
    return [{"name": secret_env_var(h.name),
             "valueFrom": {"secretKeyRef": {"name": h.secret_name, "key": h.secret_key}}}
            for h in lt.target.headers if h.secret_name is not None]


def cluster_problem(lt) -> str | None:
    """Why a valid LoadTest cannot run on a cluster, or None."""
    local = [h.name for h in lt.target.headers if h.env is not None]
    if local:
        return (f"spec.target.headers {', '.join(local)}: valueFrom.env reads a variable of "
                "the Locust processes, which only a local run has; on a cluster use "
                "valueFrom.secretKeyRef")
    return None


def build_configmap(lt, *, baseline: dict | None = None) -> dict:
    """ConfigMap with the LoadTest's runtime form, the built-in Locust files and the baseline.

    The user's locustfile (configMapRef) is mounted from their own ConfigMap instead of ours.
    """
    data = {RUNTIME_FILE: runtime_json(lt),
            **{f.name: f.read_text() for f in loadgen_files(lt, master=True)}}
    if lt.locustfile is None:
        data[LOCUSTFILE.name] = LOCUSTFILE.read_text()
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


def run_job_deadline_s(lt) -> int:
    """activeDeadlineSeconds of the master and worker Jobs. Locust stops by itself within the
    target's readyTimeout (the init step) + workersConnect (--expect-workers-max-wait) + its
    run-time cap + stopTimeout; the Job deadline comes after that, so it never SIGTERMs Locust
    in the middle of its plan. The run's own deadline is enforced by the operator, with a
    reason, and is never later than this."""
    locust = (lt.target.ready_timeout_s + lt.timeouts.workers_connect_s + run_time_cap_s(lt)
              + lt.load.stop_timeout_s)
    return math.ceil(max(locust, lt.timeouts.deadline_s) + JOB_EXIT_GRACE_S)


def resources(settings: OperatorSettings, component: str) -> dict:
    """A component's requests/limits: the operator setting's, else the default."""
    return copy.deepcopy(settings.resources.get(component) or RESOURCES[component])


def pod_metadata(lt, component: str, settings: OperatorSettings) -> dict:
    """Labels and annotations of a Job's pods: the mesh and eviction opt-outs, the configured
    extra ones, and ours (which win: the Service and the operator select by them)."""
    labels = dict(MESH_LABELS) if settings.disable_mesh_sidecars else {}
    labels.update(settings.pod_labels)
    labels.update(names.labels(lt.name, component))
    annotations = {}
    if settings.disable_mesh_sidecars:
        annotations.update(MESH_ANNOTATIONS)
    if settings.prevent_eviction:
        annotations.update(NO_EVICTION_ANNOTATIONS)
    annotations.update(settings.pod_annotations)
    meta = {"labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return meta


def scheduling(settings: OperatorSettings) -> dict:
    """What the cluster needs of every pod, as configured: pull secrets, service account,
    node selection, tolerations, affinity (only the fields that are set)."""
    spec: dict = {}
    if settings.service_account_name:
        spec["serviceAccountName"] = settings.service_account_name
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in settings.image_pull_secrets]
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = copy.deepcopy(settings.tolerations)
    if settings.affinity:
        spec["affinity"] = copy.deepcopy(settings.affinity)
    return spec


def _job(lt, settings: OperatorSettings, name: str, component: str, pod_spec: dict, *,
         parallelism: int = 1, deadline_s: float | None = None) -> dict:
    spec = {
        "backoffLimit": 0,
        "podFailurePolicy": POD_FAILURE_POLICY,
        "parallelism": parallelism,
        "completions": parallelism,
        # no ttlSecondsAfterFinished: it is set once the run has its verdict (a Job deleted
        # before its outcome is read would lose it)
        "activeDeadlineSeconds": math.ceil(deadline_s or run_job_deadline_s(lt)),
        "template": {
            "metadata": pod_metadata(lt, component, settings),
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                # the command is not PID 1 then: the wait step and a Locust worker still
                # connecting install no SIGTERM handler, and PID 1 ignores SIGTERM without
                # one, so deleting the run would wait out the whole grace period
                "shareProcessNamespace": True,
                "securityContext": POD_SECURITY,
                **scheduling(settings),
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
        mounts=[{"name": "tmp", "mountPath": "/tmp"}], resources=resources(settings, "wait"))
    if lt.target.headers:   # the health check sends them too (an endpoint behind a key)
        wait["command"] += ["--loadtest", f"{CONFIG_DIR}/{RUNTIME_FILE}"]
        wait["volumeMounts"].insert(0, {"name": "config", "mountPath": CONFIG_DIR,
                                        "readOnly": True})
        wait["env"] += header_env(lt)
    master = _container("master", settings, ["locust", *args],
                        mounts=_mounts(lt, settings, results=True),
                        resources=resources(settings, "master"),
                        ports=[{"name": "locust", "containerPort": MASTER_PORT}])
    master["env"] += header_env(lt)  # the locustfile resolves the headers on every process
    return _job(lt, settings, names.master(lt.name), "master", {
        "initContainers": [wait], "containers": [master],
        "volumes": _volumes(lt, settings, results=True)})


def build_worker_job(lt, settings: OperatorSettings) -> dict:
    args = worker_args(lt, locustfile=locustfile_path(lt), master_host=names.master(lt.name),
                       master_port=MASTER_PORT, loadgen_dir=CONFIG_DIR)
    worker = _container("worker", settings, ["locust", *args],
                        mounts=_mounts(lt, settings, results=False),
                        resources=resources(settings, "workers"))
    worker["env"] += header_env(lt)
    return _job(lt, settings, names.workers(lt.name), "workers", {
        "containers": [worker], "volumes": _volumes(lt, settings, results=False)},
        parallelism=lt.workers)


def build_collector_job(lt, settings: OperatorSettings, *, with_baseline: bool = False) -> dict:
    cmd = ["loadgate", "collect", "--config", f"{CONFIG_DIR}/{RUNTIME_FILE}",
           "--results", RESULTS_DIR, "--termination-log", TERMINATION_LOG]
    if with_baseline:
        cmd += ["--baseline", f"{CONFIG_DIR}/baseline.json"]
    collector = _container("collector", settings, cmd,
                           mounts=_mounts(lt, settings, results=True),
                           resources=resources(settings, "collector"))
    return _job(lt, settings, names.collector(lt.name), "collector", {
        "containers": [collector], "volumes": _volumes(lt, settings, results=True)},
        deadline_s=COLLECTOR_BUDGET_S)


def build_children(lt, settings: OperatorSettings, *, baseline: dict | None = None) -> list[dict]:
    """Everything created when a run starts, in creation order. The worker Job comes once the
    master runs (workers give up on a master that is not there after a few minutes), the
    collector once the load finished."""
    children = [build_configmap(lt, baseline=baseline)]
    pvc = build_results_pvc(lt, settings)
    if pvc is not None:
        children.append(pvc)
    children += [build_master_service(lt), build_master_job(lt, settings)]
    return children
