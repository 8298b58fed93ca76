"""What Kubernetes' controllers and the kubelet do to objects, done by tests against the
emulator through the admin client (`loadgate_operator.kube`), the way their documentation says
they do it. kmock stores objects; these helpers make them behave:

- the Job controller creates Pods owned by the Job (`job_pod`), fails a Job by its
  `podFailurePolicy` (`fail_job_by_policy`);
- the kubelet writes container states: waiting reasons (`waiting`), running, terminated;
- the API server's eviction sets a Pod's DisruptionTarget condition (`evict`);
- the garbage collector deletes dependents whose owners are gone, with background
  propagation: a deleted dependent holding a finalizer lingers with a deletionTimestamp
  (`GarbageCollector`);
- the TTL-after-finished controller deletes finished Jobs (`ttl_sweep`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from loadgate_operator import kube, times

# what the garbage collector may delete here: the kinds the operator creates, and Pods
KINDS = [("v1", "ConfigMap"), ("v1", "PersistentVolumeClaim"), ("v1", "Service"),
         ("batch/v1", "Job"), ("v1", "Pod")]
LINGER = "test.loadgate.dev/linger"  # stands in for pvc-protection, job-tracking & co.


def now_iso(offset_s: float = 0) -> str:
    """A time `offset_s` from now, as the API server writes them."""
    return times.iso(times.now_utc() + timedelta(seconds=offset_s))


def _path(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{kube.collection(obj['apiVersion'], obj['kind'], meta['namespace'])}/{meta['name']}"


# ---- the kubelet's container states --------------------------------------------------------

def waiting(name: str, reason: str, message: str = "") -> dict:
    return {"name": name, "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}


def running(name: str) -> dict:
    return {"name": name, "ready": True, "restartCount": 0,
            "state": {"running": {"startedAt": now_iso()}}}


def terminated(name: str, exit_code: int, message: str = "", reason: str = "") -> dict:
    t = {"exitCode": exit_code, "reason": reason or ("Completed" if exit_code == 0 else "Error"),
         "finishedAt": now_iso()}
    if message:
        t["message"] = message
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": t}}


# ---- the Job controller ----------------------------------------------------------------------

def job_pod(namespace: str, job_name: str, status: dict) -> dict:
    """Create a Pod of Job `job_name` as the Job controller does (owned by the Job, the
    template's labels plus the job-name/controller-uid labels), with the given status."""
    job = kube.get("batch/v1", "Job", namespace, job_name)
    assert job is not None, f"no Job {job_name}"
    uid = job["metadata"]["uid"]
    labels = dict(job["spec"]["template"]["metadata"].get("labels") or {})
    labels.update({"batch.kubernetes.io/job-name": job_name, "job-name": job_name,
                   "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid})
    spec = job["spec"]["template"]["spec"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{job_name}-{uuid.uuid4().hex[:5]}", "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                             "name": job_name, "uid": uid, "controller": True,
                                             "blockOwnerDeletion": True}]},
           "spec": spec, "status": {"phase": "Pending", **status}}
    return kube.request("POST", kube.collection("v1", "Pod", namespace), body=pod)


def set_pod_status(pod: dict, status: dict) -> dict:
    return kube.patch("v1", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"],
                      {"status": status}, subresource="status")


def job_status(namespace: str, job_name: str, status: dict) -> dict:
    return kube.patch("batch/v1", "Job", namespace, job_name, {"status": status},
                      subresource="status")


def complete_job(namespace: str, job_name: str, succeeded: int = 1) -> dict:
    """The Job controller marking a Job done (Complete, with its completion time)."""
    t = now_iso()
    return job_status(namespace, job_name, {
        "succeeded": succeeded, "active": 0, "completionTime": t,
        "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": t},
                       {"type": "Complete", "status": "True", "lastTransitionTime": t}]})


def suspend_reaction(namespace: str, job_name: str) -> list[str]:
    """The Job controller on a Job with spec.suspend: true (Kubernetes docs, "Suspending a
    Job"): it deletes the Job's active pods, sets status.active to 0 and adds the condition
    Suspended=True (reason JobSuspended). Returns the names of the pods it deleted."""
    job = kube.get("batch/v1", "Job", namespace, job_name)
    assert job is not None and job["spec"].get("suspend") is True, f"Job {job_name} not suspended"
    pods = kube.request("GET", kube.collection("v1", "Pod", namespace),
                        query={"labelSelector": f"job-name={job_name}"})["items"]
    gone = []
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Pending", "Running"):
            kube.request("DELETE", f"{kube.collection('v1', 'Pod', namespace)}/"
                                   f"{pod['metadata']['name']}")
            gone.append(pod["metadata"]["name"])
    conditions = [c for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("type") != "Suspended"]
    conditions.append({"type": "Suspended", "status": "True", "reason": "JobSuspended",
                       "message": "Job suspended", "lastTransitionTime": now_iso()})
    job_status(namespace, job_name, {"active": 0, "conditions": conditions})
    return gone


def evict(pod: dict, reason: str = "EvictionByEvictionAPI",
          message: str = "Eviction API: evicting") -> dict:
    """The API server's eviction (or the scheduler's preemption): DisruptionTarget=True, then
    the kubelet stops the containers and the pod ends Failed."""
    conditions = [c for c in pod.get("status", {}).get("conditions") or []
                  if c.get("type") != "DisruptionTarget"]
    conditions.append({"type": "DisruptionTarget", "status": "True", "reason": reason,
                       "message": message, "lastTransitionTime": now_iso()})
    containers = [terminated(c["name"], 143, reason="Error")
                  for c in pod["spec"].get("containers") or []]
    return set_pod_status(pod, {"phase": "Failed", "conditions": conditions,
                                "containerStatuses": containers})


def fail_job_by_policy(namespace: str, job_name: str, pod: dict) -> dict:
    """The Job controller applying a podFailurePolicy FailJob rule on a failed pod's
    DisruptionTarget condition (the message format of the Job controller)."""
    job = kube.get("batch/v1", "Job", namespace, job_name)
    rules = (job["spec"].get("podFailurePolicy") or {}).get("rules") or []
    index = next((i for i, r in enumerate(rules) if r.get("action") == "FailJob" and any(
        c.get("type") == "DisruptionTarget" for c in r.get("onPodConditions") or [])), None)
    t = now_iso()
    if index is None:  # no rule matched: the pod counts against backoffLimit (0)
        reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    else:
        reason = "PodFailurePolicy"
        message = (f"Pod {namespace}/{pod['metadata']['name']} has condition DisruptionTarget "
                   f"matching FailJob rule at index {index}")
    return job_status(namespace, job_name, {
        "failed": 1, "active": 0,
        "conditions": [{"type": "FailureTarget", "status": "True", "reason": reason,
                        "message": message, "lastTransitionTime": t},
                       {"type": "Failed", "status": "True", "reason": reason,
                        "message": message, "lastTransitionTime": t}]})


# ---- the TTL-after-finished controller --------------------------------------------------------

def _finished_at(job: dict) -> datetime | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            t = c.get("lastTransitionTime")
            return datetime.fromisoformat(t.replace("Z", "+00:00")) if t else None
    return None


def ttl_sweep(namespace: str) -> list[str]:
    """Delete every finished Job whose ttlSecondsAfterFinished has passed; their names."""
    gone = []
    for job in kube.list_("batch/v1", "Job", namespace, ""):
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        done = _finished_at(job)
        if ttl is None or done is None or job["metadata"].get("deletionTimestamp"):
            continue
        if datetime.now(timezone.utc) >= done + timedelta(seconds=ttl):
            kube.request("DELETE", _path(job))
            gone.append(job["metadata"]["name"])
    return gone


# ---- the garbage collector ---------------------------------------------------------------------

class GarbageCollector:
    """Background-propagation garbage collection in one namespace, one pass per `collect()`;
    `selector` (a label selector) limits it to some dependents (a test's own)."""

    def __init__(self, namespace: str, selector: str = "") -> None:
        self.namespace, self.selector = namespace, selector

    def _objects(self) -> list[dict]:
        out = []
        for api_version, kind in KINDS:
            for obj in kube.list_(api_version, kind, self.namespace, self.selector):
                out.append({"apiVersion": api_version, "kind": kind, **obj})
        for lt in kube.list_("loadgate.dev/v1alpha1", "LoadTest", self.namespace, ""):
            out.append(lt)
        return out

    def collect(self, *, linger: bool = True) -> list[str]:
        """Delete every object whose owners are all gone; with `linger`, each keeps existing
        with a deletionTimestamp (held by a finalizer) until `release()`."""
        objs = self._objects()
        alive = {o["metadata"]["uid"] for o in objs if o["metadata"].get("uid")}
        deleted = []
        for obj in objs:
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if not refs or meta.get("deletionTimestamp") or any(r["uid"] in alive for r in refs):
                continue
            if linger:
                kube.request("PATCH", _path(obj), content_type="application/merge-patch+json",
                             body={"metadata": {"finalizers": [LINGER]}})
            kube.request("DELETE", _path(obj))
            deleted.append(f"{obj['kind']} {meta['name']}")
        return deleted

    def release(self) -> list[str]:
        """The finalizers' owners are done: every lingering object goes."""
        released = []
        for obj in self._objects():
            meta = obj["metadata"]
            if meta.get("deletionTimestamp") and LINGER in (meta.get("finalizers") or []):
                kube.request("PATCH", _path(obj), content_type="application/merge-patch+json",
                             body={"metadata": {"finalizers": []}})
                released.append(f"{obj['kind']} {meta['name']}")
        return released
