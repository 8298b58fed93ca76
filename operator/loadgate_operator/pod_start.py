"""Why a run's pods cannot start, from what the scheduler, the kubelet and the PV controller
write (pure functions over plain dicts).

Some causes never heal by waiting: an image that cannot be pulled after the kubelet's first
retry (ImagePullBackOff), an invalid image name. Others may (a node being added, a Secret or a
ConfigMap created a moment later, a volume still being provisioned): they end the run only once
they lasted the operator's pod start grace (LOADGATE_POD_START_GRACE). A pod still pulling a
large image is not stuck: only the waiting reasons and Warning Events below count.
"""

from __future__ import annotations

from datetime import datetime

from loadgate_operator.times import parse_time

FAIL_AT_ONCE = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
IMAGE_PULL_RETRY_S = 30.0        # ErrImagePull: the kubelet retries after ~10 s, then backs off
AFTER_GRACE = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
STARTING = ("ContainerCreating", "PodInitializing")
EVENT_REASONS = ("FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox")
PVC_EVENT_REASONS = ("ProvisioningFailed",)
# the cluster autoscaler is adding a node for an unschedulable pod: give it time to come up
SCALE_UP_EVENT = "TriggeredScaleUp"
SCALE_UP_GRACE_S = 600.0


def _events_of(obj: dict, events: list[dict], reasons: tuple[str, ...],
               kind: str = "Warning") -> list[dict]:
    uid = (obj.get("metadata") or {}).get("uid")
    found = [e for e in events if e.get("type") == kind and e.get("reason") in reasons
             and (e.get("involvedObject") or {}).get("uid") == uid]
    return sorted(found, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def _unschedulable(st: dict) -> dict | None:
    return next((c for c in st.get("conditions") or [] if c.get("type") == "PodScheduled"
                 and c.get("status") == "False" and c.get("reason") == "Unschedulable"), None)


def needs_events(pod: dict) -> bool:
    """A pod not started whose Events may say why (mounts, sandbox) or that a node is coming."""
    st = pod.get("status") or {}
    if st.get("phase") not in (None, "Pending"):
        return False
    if _unschedulable(st):
        return True
    statuses = (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or [])
    waits = [((cs.get("state") or {}).get("waiting") or {}).get("reason") for cs in statuses]
    scheduled = any(c.get("type") == "PodScheduled" and c.get("status") == "True"
                    for c in st.get("conditions") or [])
    return any(w in STARTING for w in waits) or (scheduled and not statuses)


def events_matter(obj: dict, now: datetime, grace_s: float) -> bool:
    """pod_problem and pvc_problem read an object's Events only once it is `grace_s` old:
    listing them sooner (every tick, for every starting pod) would be API calls for nothing."""
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp")) or now
    return (now - created).total_seconds() >= grace_s


def pod_problem(pod: dict, events: list[dict], now: datetime, grace_s: float) -> str | None:
    """Why this pod cannot start, once that is certain (or has lasted `grace_s`); else None."""
    meta, st = pod.get("metadata") or {}, pod.get("status") or {}
    if st.get("phase") not in (None, "Pending"):
        return None
    name = meta.get("name")
    created = parse_time(meta.get("creationTimestamp")) or now
    age = (now - created).total_seconds()
    c = _unschedulable(st)
    if c is not None:
        since = parse_time(c.get("lastTransitionTime")) or created
        limit = grace_s
        if _events_of(pod, events, (SCALE_UP_EVENT,), kind="Normal"):
            limit = max(grace_s, SCALE_UP_GRACE_S)  # a node is on its way
        if (now - since).total_seconds() >= limit:
            return (f"pod {name} could not be scheduled for {limit:g}s: "
                    f"{c.get('message') or 'Unschedulable'}")
        return None
    for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        w = (cs.get("state") or {}).get("waiting") or {}
        reason = w.get("reason")
        if reason in FAIL_AT_ONCE or (reason == "ErrImagePull" and age >= IMAGE_PULL_RETRY_S) \
                or (reason in AFTER_GRACE and age >= grace_s):
            detail = f": {w['message']}" if w.get("message") else ""
            return f"pod {name} cannot start: container {cs.get('name')}: {reason}{detail}"
    if age >= grace_s:
        failures = _events_of(pod, events, EVENT_REASONS)
        if failures:
            e = failures[-1]
            return f"pod {name} cannot start after {grace_s:g}s: {e['reason']}: {e.get('message')}"
    return None


def pvc_problem(pvc: dict | None, events: list[dict], now: datetime,
                grace_s: float) -> str | None:
    """The run's results PVC still Pending after the grace (nothing bound a volume to it)."""
    if pvc is None or (pvc.get("status") or {}).get("phase") != "Pending":
        return None
    meta = pvc.get("metadata") or {}
    created = parse_time(meta.get("creationTimestamp")) or now
    if (now - created).total_seconds() < grace_s:
        return None
    failures = _events_of(pvc, events, PVC_EVENT_REASONS)
    why = (f"{failures[-1]['reason']}: {failures[-1].get('message')}" if failures else
           f"no volume was bound (storage class "
           f"{(pvc.get('spec') or {}).get('storageClassName') or 'the cluster default'})")
    return f"the results PVC {meta.get('name')} is still Pending after {grace_s:g}s: {why}"


def start_problem(pods: list[dict], pvc: dict | None, events: list[dict], now: datetime,
                  grace_s: float) -> str | None:
    """The first reason the run's pods cannot start, or None."""
    for pod in pods:
        why = pod_problem(pod, events, now, grace_s)
        if why:
            return why
    return pvc_problem(pvc, events, now, grace_s)
