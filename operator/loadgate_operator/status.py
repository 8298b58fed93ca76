"""The phase machine, as pure functions over observed children (plain dicts).

Pending -> WaitingForTarget -> Running -> Collecting -> Succeeded | Failed
`advance(status, observed, now, ...)` returns the status patch to apply and the Events to post;
the handlers only fetch the children and apply what comes back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from loadgate_operator import pod_start
from loadgate_operator.times import iso, now_utc, parse_time  # noqa: F401 (handlers: now_utc)

PENDING, WAITING, RUNNING, COLLECTING = "Pending", "WaitingForTarget", "Running", "Collecting"
SUCCEEDED, FAILED = "Succeeded", "Failed"
PHASES = (PENDING, WAITING, RUNNING, COLLECTING, SUCCEEDED, FAILED)
TERMINAL = (SUCCEEDED, FAILED)
VERDICTS = ("Pass", "Fail", "Error", "Invalid")
CONDITION_TYPES = ("TargetReady", "WorkersConnected", "LoadCompleted", "ThresholdsMet")
MAX_MESSAGE = 1024
# The collector's own budget from the moment the load finished (its Job's activeDeadlineSeconds),
# whatever is left of the run's deadline; the operator gives up a little after the Job would.
COLLECTOR_BUDGET_S = 300.0
COLLECTOR_SLACK_S = 30.0


def set_condition(conditions: list[dict] | None, type_: str, status: str, reason: str,
                  message: str, now: datetime, generation: int | None = None) -> list[dict]:
    """metav1.Condition upsert: lastTransitionTime changes only when status changes."""
    if type_ not in CONDITION_TYPES:
        raise ValueError(f"unknown condition type {type_!r}")
    out = [dict(c) for c in (conditions or [])]
    old = next((c for c in out if c.get("type") == type_), None)
    new = {"type": type_, "status": status, "reason": reason, "message": message[:MAX_MESSAGE],
           "lastTransitionTime": iso(now)}
    if generation is not None:
        new["observedGeneration"] = generation
    if old is not None:
        if old.get("status") == status and old.get("lastTransitionTime"):
            new["lastTransitionTime"] = old["lastTransitionTime"]
        out[out.index(old)] = new
    else:
        out.append(new)
    return out


def get_condition(status: dict, type_: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


# ---- reading observed Jobs and Pods ------------------------------------------------------

def job_state(job: dict | None) -> str:
    """'missing' | 'active' | 'complete' | 'failed' from a batch/v1 Job's status."""
    if job is None:
        return "missing"
    st = job.get("status") or {}
    for c in st.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "complete"
        if c.get("status") == "True" and c.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    completions = (job.get("spec") or {}).get("completions") or 1
    if (st.get("succeeded") or 0) >= completions:
        return "complete"
    if (st.get("failed") or 0) > 0:
        return "failed"
    return "active"


def job_failure_message(job: dict | None) -> str:
    for c in ((job or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            return f"{c.get('reason') or 'Failed'}: {c.get('message') or ''}".strip(": ")
    return "the Job failed"


MAX_OUTPUT = 800  # of a crashed container's last output, in a reason


def disruption(pods: list[dict]) -> str | None:
    """A pod evicted or preempted (its DisruptionTarget condition), as one sentence."""
    for pod in pods:
        for c in (pod.get("status") or {}).get("conditions") or []:
            if c.get("type") == "DisruptionTarget" and c.get("status") == "True":
                detail = f": {c['message']}" if c.get("message") else ""
                return (f"pod {(pod.get('metadata') or {}).get('name')} was disrupted "
                        f"({c.get('reason') or 'DisruptionTarget'}{detail})")
    return None


def job_failure(job: dict | None, pods: list[dict], container: str) -> tuple[str | None, str]:
    """Why a Job failed: ("Disrupted", why) for an evicted or preempted pod (the Job's
    podFailurePolicy names DisruptionTarget), else (None, the Job's reason plus the crashed
    container's last output: its termination message, or its last log lines through
    terminationMessagePolicy FallbackToLogsOnError)."""
    message = job_failure_message(job)
    disrupted = disruption(pods)
    if disrupted or "DisruptionTarget" in message:
        return "Disrupted", f"{disrupted or message}; a disrupted run has no verdict, run it again"
    out = termination_message(pods, container)
    if out and out.strip():
        text = out.strip()
        if len(text) > MAX_OUTPUT:
            text = "…" + text[-MAX_OUTPUT:]
        message += f"; its last output: {text}"
    return None, message


def _terminated(cs: dict) -> dict | None:
    return ((cs or {}).get("state") or {}).get("terminated")


def init_state(pods: list[dict]) -> tuple[str, str]:
    """The master's wait-for-target init container: 'waiting' | 'ready' | 'failed', message."""
    for pod in pods:
        st = pod.get("status") or {}
        for cs in st.get("initContainerStatuses") or []:
            t = _terminated(cs)
            if t is None:
                continue
            if t.get("exitCode") == 0:
                return "ready", "the target answered its health check"
            # the message is the step's log tail: its last line is the verdict on the target
            lines = (t.get("message") or "").strip().splitlines()
            return "failed", lines[-1].strip() if lines else (
                f"the target's health check did not pass (exit code {t.get('exitCode')})")
        if st.get("containerStatuses") and not st.get("initContainerStatuses"):
            return "ready", "the master container started"
    return "waiting", ""


def ready_count(job: dict | None, pods: list[dict]) -> int:
    st = (job or {}).get("status") or {}
    if st.get("ready") is not None:
        return int(st["ready"])
    n = 0
    for pod in pods:
        for c in (pod.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "True":
                n += 1
    return n


def termination_message(pods: list[dict], container: str = "collector") -> str | None:
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") != container:
                continue
            t = _terminated(cs)
            if t is not None and t.get("message"):
                return t["message"]
    return None


def parse_collector_message(message: str | None) -> tuple[dict | None, str]:
    """The collector's summary JSON, or (None, why it is unusable)."""
    if not message:
        return None, "the collector ended without a termination message"
    try:
        doc = json.loads(message)
    except ValueError as e:
        return None, f"the collector's termination message is not JSON ({e.msg})"
    if not isinstance(doc, dict) or doc.get("verdict") not in VERDICTS:
        return None, "the collector's termination message has no valid verdict"
    return doc, ""


# ---- the machine ------------------------------------------------------------------------

@dataclass
class Observed:
    master_job: dict | None = None
    master_pods: list[dict] = field(default_factory=list)
    worker_job: dict | None = None
    worker_pods: list[dict] = field(default_factory=list)
    collector_job: dict | None = None
    collector_pods: list[dict] = field(default_factory=list)
    results_pvc: dict | None = None                      # the run's own PVC (not a shared claim)
    events: list[dict] = field(default_factory=list)     # Warning Events of pods/PVC not started


@dataclass
class Step:
    patch: dict                      # merge into .status
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    create_workers: bool = False     # the master runs: now the workers can connect to it
    create_collector: bool = False

    @property
    def phase(self) -> str | None:
        return self.patch.get("phase")


def _phase_event(phase: str, message: str) -> tuple[str, str, str]:
    return ("Warning" if phase == FAILED else "Normal", phase, message)


def fail(status: dict, reason_code: str, message: str, now: datetime, *,
         condition: str | None = None) -> Step:
    """Failed / Error with a reason: every way a run cannot reach a verdict ends here."""
    conds = status.get("conditions")
    if condition:
        conds = set_condition(conds, condition, "False", reason_code, message, now)
    conds = set_condition(conds, "ThresholdsMet", "Unknown", "NoVerdict", message, now)
    patch = {"phase": FAILED, "verdict": "Error", "reason": message, "conditions": conds,
             "completionTime": iso(now)}
    return Step(patch, [_phase_event(FAILED, message),
                        ("Warning", "VerdictError", f"verdict Error: {message}")])


def waiting_for_children(status: dict, why: list[str]) -> Step:
    """Pending while children of an earlier run of the same name are still being deleted."""
    more = f" (and {len(why) - 1} more)" if len(why) > 1 else ""
    msg = f"waiting to create this run's children: {why[0]}{more}"
    events = [] if status.get("reason") == msg else [("Normal", PENDING, msg)]
    return Step({"phase": PENDING, "reason": msg}, events)


def started(status: dict, now: datetime, results_path: str) -> Step:
    """Children created: Pending -> WaitingForTarget."""
    conds = status.get("conditions")
    for t in CONDITION_TYPES:
        conds = set_condition(conds, t, "Unknown", "Pending", "not yet known", now)
    msg = "children created; waiting for the target's health check"
    return Step({"phase": WAITING, "reason": msg, "conditions": conds,
                 "startTime": status.get("startTime") or iso(now),
                 "resultsPath": results_path}, [_phase_event(WAITING, msg)])


def verdict_step(status: dict, summary: dict, now: datetime) -> Step:
    """Collector output -> Succeeded (Pass/Fail/Invalid) or Failed (Error)."""
    verdict = summary["verdict"]
    reason = str(summary.get("reason") or f"verdict {verdict}")
    met = {"Pass": "True", "Fail": "False"}.get(verdict, "Unknown")
    conds = set_condition(status.get("conditions"), "ThresholdsMet", met,
                          {"Pass": "ThresholdsPassed", "Fail": "ThresholdsFailed",
                           "Invalid": "GeneratorSaturated"}.get(verdict, "ResultsUnusable"),
                          reason, now)
    phase = FAILED if verdict == "Error" else SUCCEEDED
    patch = {"phase": phase, "verdict": verdict, "reason": reason, "conditions": conds,
             "completionTime": iso(now)}
    for key in ("summary", "thresholds", "breakingPoint"):
        if key in summary:
            patch[key] = summary[key]
    etype = "Normal" if verdict == "Pass" else "Warning"
    return Step(patch, [_phase_event(phase, f"run finished: {reason}"),
                        (etype, f"Verdict{verdict}", f"verdict {verdict}: {reason}")])


def _lost_jobs(status: dict, obs: Observed, now: datetime) -> Step | None:
    """While the load runs: the master Job gone, or the worker Job failed, ends the run."""
    if obs.master_job is None:
        return fail(status, "MasterMissing", "the master Job disappeared", now)
    if job_state(obs.worker_job) == "failed":
        code, why = job_failure(obs.worker_job, obs.worker_pods, "worker")
        return fail(status, code or "WorkersFailed", f"the worker Job failed: {why}", now,
                    condition="WorkersConnected")
    return None


def _waiting(status: dict, obs: Observed, now: datetime, run: _Run) -> Step | None:
    """WaitingForTarget: the master's init container waits for the target's health."""
    master = job_state(obs.master_job)
    state, msg = init_state(obs.master_pods)
    if master == "failed":
        code, why = job_failure(obs.master_job, obs.master_pods, "master")
        if code:   # disrupted (also when the evicted pod is already gone: the Job says so)
            return fail(status, code, f"the Locust master failed: {why}", now,
                        condition="TargetReady")
    if state == "failed" or (master == "failed" and state != "ready"):
        text = msg or job_failure_message(obs.master_job)
        return fail(status, "TargetNotReady", f"the target never became ready: {text}", now,
                    condition="TargetReady")
    if state == "ready" or master == "complete":
        conds = set_condition(status.get("conditions"), "TargetReady", "True",
                              "HealthCheckPassed", msg or "the target is ready", now)
        text = "the target is ready; Locust is running"
        return Step({"phase": RUNNING, "reason": text, "conditions": conds,
                     "runningSince": iso(now)}, [_phase_event(RUNNING, text)],
                    create_workers=True)
    return None


def _running(status: dict, obs: Observed, now: datetime, run: _Run) -> Step | None:
    """Running: workers connect, the master finishes -> the collector is due."""
    master = job_state(obs.master_job)
    conds = status.get("conditions")
    wc = get_condition(status, "WorkersConnected") or {}
    ready = ready_count(obs.worker_job, obs.worker_pods)
    if master == "failed":
        code, why = job_failure(obs.master_job, obs.master_pods, "master")
        return fail(status, code or "MasterFailed", f"the Locust master failed: {why}", now,
                    condition="LoadCompleted")
    if master == "complete":
        conds = set_condition(conds, "LoadCompleted", "True", "MasterCompleted",
                              "the Locust master finished; collecting results", now)
        if wc.get("status") != "True":
            conds = set_condition(conds, "WorkersConnected", "True", "RunCompleted",
                                  "the run completed with its workers", now)
        text = "load finished; the collector analyses the results"
        return Step({"phase": COLLECTING, "reason": text, "conditions": conds,
                     "collectingSince": iso(now)},
                    [_phase_event(COLLECTING, text)], create_collector=True)
    if ready >= run.workers and wc.get("status") != "True":
        conds = set_condition(conds, "WorkersConnected", "True", "WorkersReady",
                              f"{ready}/{run.workers} workers are running", now)
        return Step({"conditions": conds},
                    [("Normal", "WorkersConnected", f"{ready}/{run.workers} workers running")])
    since = parse_time(status.get("runningSince")) or run.start
    if (wc.get("status") != "True" and since is not None
            and (now - since).total_seconds() > run.workers_connect_s):
        return fail(status, "WorkersNotConnected",
                    f"only {ready}/{run.workers} workers were running after "
                    f"{run.workers_connect_s:g}s", now, condition="WorkersConnected")
    if obs.worker_job is None:  # created with the Running step; not there (yet): again
        return Step({}, create_workers=True)
    return None


def _collecting(status: dict, obs: Observed, now: datetime, run: _Run) -> Step | None:
    """Collecting: the collector Job's termination message carries the verdict."""
    collector = job_state(obs.collector_job)
    if collector == "missing":
        return Step({}, create_collector=True)
    message = termination_message(obs.collector_pods)
    if collector == "active" and message is None:
        return None
    summary, why = parse_collector_message(message)
    if summary is None:
        if collector == "failed":
            code, failure = job_failure(obs.collector_job, obs.collector_pods, "collector")
            if code:
                return fail(status, code, f"the collector failed: {failure}", now)
            why = f"the collector Job failed ({failure}); {why}"
        elif collector == "complete" and not obs.collector_pods:
            return None  # pod not observed yet
        return fail(status, "CollectorOutputUnusable", why, now)
    return verdict_step(status, summary, now)


@dataclass(frozen=True)
class _Run:
    workers: int
    workers_connect_s: float
    start: datetime | None


# one function per active phase; Pending (children not created yet) and the terminal phases
# have nothing to advance
_PHASE_STEPS = {WAITING: _waiting, RUNNING: _running, COLLECTING: _collecting}
_DEADLINE_CONDITION = {WAITING: "TargetReady", RUNNING: "LoadCompleted"}


def _out_of_time(status: dict, phase: str, now: datetime, deadline_s: float) -> Step | None:
    """The run's deadline until its load finished; then the collector's own budget."""
    if phase in _DEADLINE_CONDITION:
        start = parse_time(status.get("startTime"))
        if start is not None and (now - start).total_seconds() > deadline_s:
            return fail(status, "DeadlineExceeded",
                        f"the run did not finish within its deadline of {deadline_s:g}s "
                        f"(phase was {phase})", now, condition=_DEADLINE_CONDITION[phase])
        return None
    since = parse_time(status.get("collectingSince"))
    if since is not None and \
            (now - since).total_seconds() > COLLECTOR_BUDGET_S + COLLECTOR_SLACK_S:
        return fail(status, "CollectorTimedOut",
                    f"the collector gave no verdict within {COLLECTOR_BUDGET_S:g}s", now)
    return None


_START_CONDITION = {WAITING: "TargetReady", RUNNING: "WorkersConnected", COLLECTING: None}


def advance(status: dict, obs: Observed, now: datetime, *, workers: int,
            deadline_s: float, workers_connect_s: float,
            pod_start_grace_s: float = 120.0) -> Step | None:
    """The next status from what the children show, or None when nothing changed."""
    phase = status.get("phase") or PENDING
    step = _PHASE_STEPS.get(phase)
    if step is None:
        return None
    late = _out_of_time(status, phase, now, deadline_s)
    if late is not None:
        return late
    stuck = pod_start.start_problem(obs.master_pods + obs.worker_pods + obs.collector_pods,
                                    obs.results_pvc, obs.events, now, pod_start_grace_s)
    if stuck is not None:
        return fail(status, "PodStartFailed", stuck, now, condition=_START_CONDITION[phase])
    start = parse_time(status.get("startTime"))
    if phase in (WAITING, RUNNING):
        lost = _lost_jobs(status, obs, now)
        if lost is not None:
            return lost
    return step(status, obs, now, _Run(workers, workers_connect_s, start))
