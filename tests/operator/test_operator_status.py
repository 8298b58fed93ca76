"""The phase machine and conditions as pure functions over observed children (dicts)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from loadgate_operator import pod_start, prune
from loadgate_operator import status as st
from loadgate_operator.collect import trim

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
KW = {"workers": 2, "deadline_s": 600, "workers_connect_s": 60}


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def job(**status) -> dict:
    return {"spec": {"completions": status.pop("completions", 1)}, "status": status}


def complete() -> dict:
    return job(succeeded=1, conditions=[{"type": "Complete", "status": "True"}])


def failed(reason="BackoffLimitExceeded") -> dict:
    return job(failed=1, conditions=[{"type": "Failed", "status": "True", "reason": reason,
                                      "message": "Job has reached the specified backoff limit"}])


def init_pod(exit_code: int, message: str = "") -> dict:
    return {"status": {"initContainerStatuses": [
        {"name": "wait-for-target", "state": {"terminated": {"exitCode": exit_code,
                                                              "message": message}}}]}}


def collector_pod(message: str) -> dict:
    return {"status": {"containerStatuses": [
        {"name": "collector", "state": {"terminated": {"exitCode": 0, "message": message}}}]}}


def waiting() -> dict:
    return st.started({}, at(0), "pvc/r/x").patch


def apply(status: dict, step: st.Step) -> dict:
    return {**status, **step.patch}


def conds(status: dict) -> dict:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_started_sets_unknown_conditions_and_start_time():
    s = waiting()
    assert s["phase"] == "WaitingForTarget" and s["startTime"] == "2026-03-01T12:00:00Z"
    assert conds(s) == {t: ("Unknown", "Pending") for t in st.CONDITION_TYPES}


def test_full_happy_path():
    s = waiting()
    obs = st.Observed(master_job=job(active=1), worker_job=job(active=2, completions=2))
    assert st.advance(s, obs, at(1), **KW) is None  # nothing new
    obs.master_pods = [init_pod(0)]
    step = st.advance(s, obs, at(2), **KW)
    s = apply(s, step)
    assert s["phase"] == "Running" and conds(s)["TargetReady"] == ("True", "HealthCheckPassed")
    assert step.events == [("Normal", "Running", "the target is ready; Locust is running")]
    assert step.create_workers  # the master runs: the workers can connect now
    obs.worker_job = None
    assert st.advance(s, obs, at(2.5), **KW).create_workers  # not there yet: again
    obs.worker_job = job(active=2, ready=2, completions=2)
    s = apply(s, st.advance(s, obs, at(3), **KW))
    assert conds(s)["WorkersConnected"] == ("True", "WorkersReady")
    assert st.advance(s, obs, at(4), **KW) is None
    obs.master_job = complete()
    step = st.advance(s, obs, at(5), **KW)
    assert step.create_collector and step.phase == "Collecting"
    s = apply(s, step)
    obs.collector_job = job(active=1)
    assert st.advance(s, obs, at(6), **KW) is None  # collector still running
    msg = json.dumps({"name": "x", "verdict": "Pass", "reason": "all thresholds met",
                      "summary": {"rps": 12.5, "p95Ms": 40},
                      "thresholds": [{"metric": "p95Ms", "passed": True}],
                      "breakingPoint": {"found": False}})
    obs.collector_job, obs.collector_pods = complete(), [collector_pod(msg)]
    step = st.advance(s, obs, at(7), **KW)
    s = apply(s, step)
    assert (s["phase"], s["verdict"], s["reason"]) == ("Succeeded", "Pass", "all thresholds met")
    assert s["summary"] == {"rps": 12.5, "p95Ms": 40} and s["breakingPoint"] == {"found": False}
    assert conds(s)["ThresholdsMet"] == ("True", "ThresholdsPassed")
    assert s["completionTime"] == "2026-03-01T12:00:07Z"
    assert ("Normal", "VerdictPass", "verdict Pass: all thresholds met") in step.events
    assert st.advance(s, obs, at(8), **KW) is None  # terminal


def test_last_transition_time_changes_only_with_status():
    c = st.set_condition([], "TargetReady", "False", "Waiting", "a", at(0))
    c = st.set_condition(c, "TargetReady", "False", "StillWaiting", "b", at(10))
    assert c[0]["lastTransitionTime"] == "2026-03-01T12:00:00Z" and c[0]["reason"] == \
        "StillWaiting"
    c = st.set_condition(c, "TargetReady", "True", "Ready", "c", at(20))
    assert c[0]["lastTransitionTime"] == "2026-03-01T12:00:20Z" and len(c) == 1


def test_target_never_ready():
    obs = st.Observed(master_job=failed(), master_pods=[init_pod(2, "not ready after 300s")],
                      worker_job=job(active=2))
    s = apply(waiting(), st.advance(waiting(), obs, at(5), **KW))
    assert (s["phase"], s["verdict"]) == ("Failed", "Error")
    assert s["reason"] == "the target never became ready: not ready after 300s"
    assert conds(s)["TargetReady"] == ("False", "TargetNotReady")


def test_workers_never_connect():
    s = waiting()
    obs = st.Observed(master_job=job(active=1), master_pods=[init_pod(0)],
                      worker_job=job(active=1, ready=1, completions=2))
    s = apply(s, st.advance(s, obs, at(1), **KW))
    assert st.advance(s, obs, at(30), **KW) is None
    s = apply(s, st.advance(s, obs, at(62), **KW))
    assert (s["phase"], s["verdict"]) == ("Failed", "Error")
    assert s["reason"] == "only 1/2 workers were running after 60s"
    assert conds(s)["WorkersConnected"] == ("False", "WorkersNotConnected")


def test_job_failures_and_deadline():
    running = {**waiting(), "phase": "Running"}
    obs = st.Observed(master_job=failed("DeadlineExceeded"), worker_job=job(active=2))
    s = apply(running, st.advance(running, obs, at(5), **KW))
    assert s["phase"] == "Failed" and s["reason"].startswith("the Locust master failed: "
                                                             "DeadlineExceeded")
    obs = st.Observed(master_job=job(active=1), worker_job=failed())
    s = apply(running, st.advance(running, obs, at(5), **KW))
    assert s["reason"].startswith("the worker Job failed")
    obs = st.Observed(master_job=job(active=1), worker_job=job(active=2, ready=2))
    s = apply(running, st.advance(running, obs, at(601), **KW))
    assert (s["phase"], s["verdict"]) == ("Failed", "Error") and "deadline of 600s" in s["reason"]


def test_collector_has_its_own_budget_after_the_load():
    """Load finished a second before the run's deadline: the collector still gets its 5m."""
    s = {**waiting(), "phase": "Running", "runningSince": st.iso(at(10))}
    obs = st.Observed(master_job=complete(), worker_job=job(active=2, ready=2))
    s = apply(s, st.advance(s, obs, at(599), **KW))
    assert s["phase"] == "Collecting" and s["collectingSince"] == st.iso(at(599))
    obs.collector_job = job(active=1)
    assert st.advance(s, obs, at(599 + 250), **KW) is None  # past the run's deadline: fine
    msg = json.dumps({"verdict": "Pass", "reason": "ok"})
    obs.collector_job, obs.collector_pods = complete(), [collector_pod(msg)]
    assert apply(s, st.advance(s, obs, at(599 + 260), **KW))["verdict"] == "Pass"
    obs.collector_job, obs.collector_pods = job(active=1), []
    late = apply(s, st.advance(s, obs, at(599 + 331), **KW))
    assert (late["phase"], late["verdict"]) == ("Failed", "Error")
    assert late["reason"] == "the collector gave no verdict within 300s"


def pod(name="r-master-a1", created=0, phase="Pending", **status) -> dict:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": st.iso(at(created))},
            "status": {"phase": phase, **status}}


def waiting_in(container: str, reason: str, message: str = "", init: bool = False) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    return {key: [{"name": container, "state": {"waiting": {"reason": reason,
                                                            "message": message}}}]}


def warning(obj: dict, reason: str, message: str) -> dict:
    return {"type": "Warning", "reason": reason, "message": message,
            "involvedObject": {"uid": obj["metadata"]["uid"]}, "lastTimestamp": st.iso(at(1))}


UNSCHEDULABLE = {"conditions": [{"type": "PodScheduled", "status": "False",
                                 "reason": "Unschedulable", "lastTransitionTime": st.iso(at(0)),
                                 "message": "0/3 nodes are available: 3 Insufficient cpu."}]}
MOUNTING = {"conditions": [{"type": "PodScheduled", "status": "True"}],
            **waiting_in("master", "ContainerCreating")}
PULL_BACKOFF = waiting_in("wait-for-target", "ImagePullBackOff",
                          'Back-off pulling image "r/x:1"', init=True)


@pytest.mark.parametrize(("status", "events", "early", "late", "expected"), [
    (PULL_BACKOFF, [], 1, 1, 'container wait-for-target: ImagePullBackOff: Back-off pulling '
                             'image "r/x:1"'),
    (waiting_in("master", "InvalidImageName"), [], 1, 1, "InvalidImageName"),
    (waiting_in("master", "ErrImagePull", "not found"), [], 5, 31, "ErrImagePull: not found"),
    (UNSCHEDULABLE, [], 119, 121, "could not be scheduled for 120s: 0/3 nodes are available"),
    (waiting_in("master", "CreateContainerConfigError", 'secret "k" not found'), [], 60, 121,
     'CreateContainerConfigError: secret "k" not found'),
    (MOUNTING, ["FailedMount"], 60, 121, 'FailedMount: MountVolume.SetUp failed for volume '
                                         '"locustfile" : configmap "lf" not found'),
    (MOUNTING, [], 60, 10_000, None),  # a large image still pulling: not stuck
    (waiting_in("master", "ContainerCreating"), [], 1, 10_000, None),
])
def test_pods_that_cannot_start(status, events, early, late, expected):
    p = pod(**status)
    evs = [warning(p, r, 'MountVolume.SetUp failed for volume "locustfile" : configmap "lf" '
                         'not found') for r in events]
    assert pod_start.pod_problem(p, evs, at(early), 120) is None or early == late
    why = pod_start.pod_problem(p, evs, at(late), 120)
    if expected is None:
        assert why is None
    else:
        assert why.startswith("pod r-master-a1 ") and expected in why, why
    assert pod_start.pod_problem(pod(phase="Running", **status), evs, at(late), 120) is None


def test_a_node_being_added_is_waited_for():
    """The cluster autoscaler triggered a scale-up for the pod: up to 10 minutes, not 2."""
    p = pod(**UNSCHEDULABLE)
    scale_up = {**warning(p, "TriggeredScaleUp", "pod triggered scale-up: [{pool 1->2}]"),
                "type": "Normal"}
    assert pod_start.needs_events(p)
    assert pod_start.pod_problem(p, [scale_up], at(300), 120) is None
    assert "could not be scheduled for 600s" in pod_start.pod_problem(p, [scale_up], at(601), 120)


def test_results_pvc_never_bound():
    pvc = {"metadata": {"name": "r-results", "uid": "u-pvc",
                        "creationTimestamp": st.iso(at(0))},
           "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}
    assert pod_start.pvc_problem(pvc, [], at(100), 120) is None
    assert pod_start.pvc_problem(pvc, [], at(121), 120) == (
        "the results PVC r-results is still Pending after 120s: no volume was bound "
        "(storage class fast)")
    ev = warning(pvc, "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found')
    assert pod_start.pvc_problem(pvc, [ev], at(121), 120).endswith(
        'ProvisioningFailed: storageclass.storage.k8s.io "fast" not found')
    assert pod_start.pvc_problem({**pvc, "status": {"phase": "Bound"}}, [], at(999), 120) is None


def test_stuck_pod_fails_the_run_with_its_cause():
    s = waiting()
    obs = st.Observed(master_job=job(active=1), master_pods=[pod(**PULL_BACKOFF)])
    s = apply(s, st.advance(s, obs, at(2), **KW))
    assert (s["phase"], s["verdict"]) == ("Failed", "Error")
    assert s["reason"].startswith("pod r-master-a1 cannot start: container wait-for-target: "
                                  "ImagePullBackOff")
    assert conds(s)["TargetReady"] == ("False", "PodStartFailed")


def test_evicted_pod_is_disrupted_not_a_bare_job_failure():
    running = {**waiting(), "phase": "Running"}
    evicted = {"metadata": {"name": "r-workers-x"}, "status": {"phase": "Failed", "conditions": [
        {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
         "message": "Preempted in order to admit critical pod"}]}}
    by_policy = failed("PodFailurePolicy")
    by_policy["status"]["conditions"][0]["message"] = (
        "Pod lg/r-workers-x has condition DisruptionTarget matching FailJob rule at index 0")
    obs = st.Observed(master_job=job(active=1), worker_job=by_policy, worker_pods=[evicted])
    s = apply(running, st.advance(running, obs, at(5), **KW))
    assert (s["phase"], s["verdict"]) == ("Failed", "Error")
    assert s["reason"].startswith("the worker Job failed: pod r-workers-x was disrupted "
                                  "(PreemptionByScheduler: Preempted in order to admit")
    assert conds(s)["WorkersConnected"] == ("False", "Disrupted")
    obs.worker_pods = []  # the pod already gone: the Job's reason says it
    s = apply(running, st.advance(running, obs, at(5), **KW))
    assert conds(s)["WorkersConnected"] == ("False", "Disrupted")
    assert "has condition DisruptionTarget" in s["reason"]


def test_master_evicted_while_waiting_is_disrupted_even_once_its_pod_is_gone():
    """WaitingForTarget: the master's Job failed by its podFailurePolicy; with the evicted
    pod already deleted only the Job's reason says so, and the run is still Disrupted (run
    it again), not a target that never became ready."""
    by_policy = failed("PodFailurePolicy")
    by_policy["status"]["conditions"][0]["message"] = (
        "Pod lg/r-master-x has condition DisruptionTarget matching FailJob rule at index 0")
    obs = st.Observed(master_job=by_policy, master_pods=[])
    s = apply(waiting(), st.advance(waiting(), obs, at(5), **KW))
    assert (s["phase"], s["verdict"]) == ("Failed", "Error")
    assert conds(s)["TargetReady"] == ("False", "Disrupted")
    assert s["reason"].startswith("the Locust master failed: PodFailurePolicy: Pod "
                                  "lg/r-master-x has condition DisruptionTarget")


def test_crash_shows_its_last_output():
    """terminationMessagePolicy FallbackToLogsOnError: a crashed container's last log lines
    are its termination message, and the reason carries them."""
    running = {**waiting(), "phase": "Running"}
    crashed = {"metadata": {"name": "r-master-a"}, "status": {"phase": "Failed",
               "containerStatuses": [{"name": "master", "state": {"terminated": {
                   "exitCode": 1, "message": "Traceback (most recent call last):\n"
                                             "ModuleNotFoundError: No module named 'lxml'\n"}}}]}}
    obs = st.Observed(master_job=failed(), master_pods=[crashed], worker_job=job(active=2))
    s = apply(running, st.advance(running, obs, at(5), **KW))
    assert s["reason"] == (
        "the Locust master failed: BackoffLimitExceeded: Job has reached the specified backoff "
        "limit; its last output: Traceback (most recent call last):\n"
        "ModuleNotFoundError: No module named 'lxml'")
    assert conds(s)["LoadCompleted"] == ("False", "MasterFailed")


def test_unusable_collector_output():
    collecting = {**waiting(), "phase": "Collecting"}
    for message, why in (("", "without a termination message"), ("{oops", "not JSON"),
                         ('{"verdict": "Maybe"}', "no valid verdict")):
        obs = st.Observed(master_job=complete(), collector_job=failed(),
                          collector_pods=[collector_pod(message)] if message else [{}])
        s = apply(collecting, st.advance(collecting, obs, at(5), **KW))
        assert (s["phase"], s["verdict"]) == ("Failed", "Error") and why in s["reason"]


def test_fail_and_invalid_verdicts_are_succeeded_runs():
    collecting = {**waiting(), "phase": "Collecting"}
    for verdict, met in (("Fail", "False"), ("Invalid", "Unknown"), ("Error", "Unknown")):
        obs = st.Observed(collector_job=complete(), collector_pods=[collector_pod(json.dumps(
            {"verdict": verdict, "reason": "r"}))])
        s = apply(collecting, st.advance(collecting, obs, at(5), **KW))
        assert s["verdict"] == verdict
        assert s["phase"] == ("Failed" if verdict == "Error" else "Succeeded")
        assert conds(s)["ThresholdsMet"][0] == met


def test_trim_keeps_termination_message_under_4k():
    rows = [{"metric": f"/embed [{i}].p95Ms", "limit": 500, "observed": 400 + i,
             "passed": i != 77, "kind": "max"} for i in range(200)]
    summary = {"name": "x", "verdict": "Fail", "reason": "p95 too high " * 10,
               "summary": {"rps": 1.0}, "thresholds": rows, "endpoints": [{"n": 1}] * 500,
               "breakingPoint": {"found": True, "users": 40, "rps": 38.5, "windows": [1] * 900},
               "generator": {"workers": 2}}
    t = trim(summary)
    assert len(json.dumps(t, separators=(",", ":")).encode()) < 4096
    assert t["verdict"] == "Fail" and t["summary"] == {"rps": 1.0}
    assert t["thresholds"][0]["passed"] is False  # the failing row survives the trim
    assert "endpoints" not in t


def test_operator_cli_options():
    from argparse import Namespace

    import pytest
    from loadgate_operator.main import kopf_options
    assert kopf_options(Namespace(namespace=[], all_namespaces=True, liveness="")) == {
        "standalone": True, "liveness_endpoint": None, "clusterwide": True}
    assert kopf_options(Namespace(namespace=["a", "b"], all_namespaces=False,
                                  liveness="http://0.0.0.0:8080/healthz")) == {
        "standalone": True, "liveness_endpoint": "http://0.0.0.0:8080/healthz",
        "namespaces": ["a", "b"]}
    with pytest.raises(SystemExit, match="not both"):
        kopf_options(Namespace(namespace=["a"], all_namespaces=True, liveness=""))


def test_which_finished_runs_are_pruned():
    def lt(name, phase=None, done=None, **annotations):
        return {"metadata": {"name": name, "creationTimestamp": "2026-03-01T10:00:00Z",
                             "annotations": annotations},
                "status": {"phase": phase, "completionTime": done} if phase else {}}

    items = [lt("a", "Succeeded", "2026-03-01T12:00:01Z"), lt("b", "Failed", "2026-03-01T12:00:03Z"),
             lt("c", "Succeeded", "2026-03-01T12:00:02Z"), lt("running", "Running"), lt("new"),
             lt("pinned", "Failed", "2026-03-01T11:00:00Z", **{"loadgate.dev/keep": "true"}),
             lt("argo", "Failed", "2026-03-01T11:00:00Z",
                **{"argocd.argoproj.io/tracking-id": "app:loadgate.dev/LoadTest:ns/argo"}),
             lt("hook", "Failed", "2026-03-01T11:00:00Z",
                **{"argocd.argoproj.io/tracking-id": "app:x", "argocd.argoproj.io/hook": "PostSync"})]
    assert prune.to_prune(items, 2) == ["a", "hook"]  # keeps b and c, the newest two
    assert prune.to_prune(items, 0) == [] and prune.to_prune(items, 10) == []
