"""kopf handlers: thin glue between the API server and the pure builders/status modules."""

from __future__ import annotations

import asyncio
import json

import kopf
from kubernetes.client.rest import ApiException

from loadgate.gate.summary import baseline_problem
from loadgate.spec import RUNTIME_FILE, SpecError, document, parse
from loadgate_operator import builders, kube, names, ownership, pod_start, prune, status
from loadgate_operator.settings import OperatorSettings, settings_or_exit

RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
ACTIVE_PHASES = (status.WAITING, status.RUNNING, status.COLLECTING)
# read once, when the handlers are registered: the timer's interval is fixed there
SETTINGS = settings_or_exit()
# how long a new run waits for an earlier run's children (same names) to be garbage-collected
STALE_CHILDREN_WAIT_S = 300
# a missing locustfile ConfigMap is looked for once more after this, then the run fails
LOCUSTFILE_RETRY_S = 5


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger, **_) -> None:
    """All kopf and operator settings in one place."""
    settings.peering.standalone = True            # one replica; no KopfPeering CRD needed
    # no watching of CRDs or namespaces: the CRD ships with the chart, and the namespaces are
    # the ones the operator was started with (a namespaced install cannot list namespaces)
    settings.scanning.disabled = True
    settings.posting.enabled = True               # Events on the LoadTest
    settings.posting.level = 20                   # INFO and above
    # progress and the diff base go to annotations: .status holds only declared fields
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = f"{names.GROUP}/finalizer"
    settings.watching.server_timeout = SETTINGS.watch_timeout
    settings.networking.request_timeout = 30
    # a deleted LoadTest waits for its timer to stop: re-check every second, not every minute
    settings.background.cancellation_polling = 1
    memo.settings = SETTINGS
    memo.runs = {}
    await asyncio.to_thread(kube.load_config)
    logger.info("loadgate operator settings: %s", memo.settings)


def _manifest(body) -> dict:
    spec = json.loads(json.dumps(dict(body.get("spec") or {})))  # kopf's views -> plain dicts
    return document(body["metadata"]["name"], spec, namespace=body["metadata"]["namespace"])


def _fail_now(patch, st: dict, code: str, message: str, body) -> None:
    step = status.fail(st, code, message, status.now_utc())
    patch.status.update(step.patch)
    for etype, reason, msg in step.events:
        kopf.event(body, type=etype, reason=reason, message=msg)


async def _baseline(lt, namespace: str) -> tuple[dict | None, str]:
    """A finished LoadTest's summary as a summary.json-shaped baseline, or why not."""
    if lt.baseline is None:
        return None, ""
    ref = lt.baseline.load_test_ref
    other = await asyncio.to_thread(kube.get, names.API_VERSION, names.KIND, namespace, ref)
    if other is None:
        return None, f"the baseline LoadTest {ref!r} does not exist"
    st = other.get("status") or {}
    if st.get("phase") != status.SUCCEEDED:
        return None, (f"the baseline LoadTest {ref!r} has not finished with a summary "
                      f"(phase {st.get('phase') or 'unknown'})")
    doc = {"name": ref, "verdict": st.get("verdict"), "summary": st.get("summary"),
           "thresholds": st.get("thresholds") or [],
           "breakingPoint": st.get("breakingPoint") or {}}
    problem = baseline_problem(doc)
    return (None, f"the baseline LoadTest {ref!r} {problem}") if problem else (doc, "")


async def _locustfile_problem(lt) -> str:
    """Why the user's locustfile ConfigMap cannot be mounted ("" when it can, or none is used):
    a pod mounting a missing ConfigMap would wait in ContainerCreating for ever."""
    if lt.locustfile is None:
        return ""
    ref = lt.locustfile
    cm = await asyncio.to_thread(kube.get, "v1", "ConfigMap", lt.namespace, ref.config_map_name)
    if cm is None:
        return (f"the locustfile ConfigMap {ref.config_map_name!r} (spec.locustfile.configMapRef) "
                f"does not exist in namespace {lt.namespace!r}")
    if ref.key not in (cm.get("data") or {}):
        return (f"the locustfile ConfigMap {ref.config_map_name!r} has no key {ref.key!r} "
                f"(keys: {', '.join(sorted(cm.get('data') or {})) or 'none'})")
    return ""


class ChildRejected(Exception):
    """The API server refused a child for good (invalid object, forbidden): no retry helps."""


def _api_message(e: ApiException) -> str:
    try:
        return json.loads(e.body or "{}").get("message") or str(e.reason)
    except ValueError:
        return str(e.reason)


async def _create_all(children: list[dict], body, logger) -> list[str]:
    """Create each child; one of this run's already there is fine. Returns why some must wait
    (an earlier run's child of the same name is being deleted); ChildRejected when the API
    server refuses for good or a foreign object holds the name. Transient errors retry."""
    uid = body["metadata"]["uid"]
    waits = []
    for child in children:
        kopf.adopt(child, owner=body)
        what = f"{child['kind']} {child['metadata']['name']}"
        try:
            existing, created = await asyncio.to_thread(kube.create, child)
        except ApiException as e:
            if e.status in (400, 403, 404, 422):
                raise ChildRejected(f"the API server rejected {what}: {e.status} "
                                    f"{_api_message(e)}") from e
            raise kopf.TemporaryError(f"creating {what}: {e.status} {e.reason}", delay=5) from e
        if created:
            logger.info("%s created", what)
            continue
        if existing is None:
            waits.append(f"{what} was deleted while being created; retrying")
            continue
        clash = ownership.conflict(existing, uid, names.KIND)
        if clash is None:
            logger.info("%s already exists (this run's)", what)
        elif clash[0] == "foreign":
            raise ChildRejected(clash[1])
        else:
            waits.append(clash[1])
    return waits


def _prune(body, keep: int, logger) -> None:
    """This LoadTest just finished: delete its namespace's finished LoadTests beyond the
    newest `keep` (with their children, through the garbage collector)."""
    ns, uid = body["metadata"]["namespace"], body["metadata"]["uid"]
    try:
        items = kube.list_(names.API_VERSION, names.KIND, ns)
        for lt in items:  # this one's terminal status is not written yet
            if (lt.get("metadata") or {}).get("uid") == uid:
                lt["status"] = {**(lt.get("status") or {}), "phase": status.FAILED,
                                "completionTime": status.iso(status.now_utc())}
        for name in prune.to_prune(items, keep):
            if kube.delete(names.API_VERSION, names.KIND, ns, name):
                logger.info("deleted the finished LoadTest %s/%s (keeping the newest %d)",
                            ns, name, keep)
    except Exception as e:  # best effort: the next finished run tries again
        logger.warning("could not prune finished LoadTests in %s: %s", ns, e)


async def _pruned_when_finished(body, patch, memo: kopf.Memo, logger) -> None:
    if (patch.get("status") or {}).get("phase") in status.TERMINAL:
        await asyncio.to_thread(_prune, body, memo.settings.keep_finished, logger)


@kopf.on.create(*RESOURCE)
async def start_run(body, patch, memo: kopf.Memo, logger, retry: int, runtime, **_) -> None:
    """Parse and validate the spec, then create the run's children (idempotently)."""
    try:
        await _start_run(body, patch, memo, logger, retry, runtime)
    finally:
        await _pruned_when_finished(body, patch, memo, logger)


async def _start_run(body, patch, memo: kopf.Memo, logger, retry: int, runtime) -> None:
    st = dict(body.get("status") or {})
    if st.get("phase") in status.TERMINAL:
        return
    try:
        lt = parse(_manifest(body))
    except SpecError as e:
        _fail_now(patch, st, "InvalidSpec", f"invalid spec: {e}", body)
        return
    if problem := builders.cluster_problem(lt):
        _fail_now(patch, st, "InvalidSpec", f"invalid spec: {problem}", body)
        return
    baseline, why = await _baseline(lt, lt.namespace)
    if why:
        _fail_now(patch, st, "BaselineUnavailable", why, body)
        return
    why = await _locustfile_problem(lt)
    if why and retry == 0:  # perhaps applied together with the LoadTest: look once more
        raise kopf.TemporaryError(why, delay=LOCUSTFILE_RETRY_S)
    if why:
        _fail_now(patch, st, "LocustfileMissing", why, body)
        return
    settings: OperatorSettings = memo.settings
    try:
        waits = await _create_all(builders.build_children(lt, settings, baseline=baseline),
                                  body, logger)
    except ChildRejected as e:
        _fail_now(patch, st, "ChildRejected", str(e), body)
        return
    if waits:
        if runtime.total_seconds() > STALE_CHILDREN_WAIT_S:
            _fail_now(patch, st, "ChildConflict",
                      f"{waits[0]}, still after {STALE_CHILDREN_WAIT_S}s", body)
            return
        step = status.waiting_for_children(st, waits)
        patch.status.update(step.patch)
        for etype, reason, msg in step.events:
            kopf.event(body, type=etype, reason=reason, message=msg)
        raise kopf.TemporaryError(step.patch["reason"], delay=min(2 ** retry, 15))
    memo.runs[body["metadata"]["uid"]] = lt
    step = status.started(st, status.now_utc(), builders.results_path(lt, settings))
    patch.status.update(step.patch)
    patch.status["observedGeneration"] = body["metadata"].get("generation") or 1
    for etype, reason, msg in step.events:
        kopf.event(body, type=etype, reason=reason, message=msg)


@kopf.on.update(*RESOURCE, field="spec")
async def spec_changed(body, **_) -> None:
    """A run is immutable: changes after the start are ignored, loudly."""
    kopf.warn(body, reason="SpecChangeIgnored",
              message="a LoadTest run is immutable; the spec change is ignored "
                      "(create a new LoadTest to run again)")


async def _run_of(body, memo: kopf.Memo):
    """The LoadTest as it was when the run started (its ConfigMap), surviving restarts."""
    uid = body["metadata"]["uid"]
    if uid not in memo.runs:
        ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        cm = ownership.ours_or_none(
            await asyncio.to_thread(kube.get, "v1", "ConfigMap", ns, names.config(name)), uid)
        doc = json.loads(cm["data"][RUNTIME_FILE]) if cm else _manifest(body)
        memo.runs[uid] = parse(doc)
    return memo.runs[uid]


def _observe(ns: str, name: str, uid: str, settings: OperatorSettings) -> status.Observed:
    """This run's Jobs, their Pods and its PVC (an earlier run's leftovers of the same names
    are not), and the Events of those that have not started within the pod start grace."""
    def ours(api_version: str, kind: str, child: str) -> dict | None:
        return ownership.ours_or_none(kube.get(api_version, kind, ns, child), uid)

    master, workers, collector = (ours("batch/v1", "Job", names.master(name)),
                                  ours("batch/v1", "Job", names.workers(name)),
                                  ours("batch/v1", "Job", names.collector(name)))
    pods = kube.list_("v1", "Pod", ns, names.label_selector(name))
    obs = status.Observed(
        master_job=master, master_pods=ownership.pods_of(master, pods),
        worker_job=workers, worker_pods=ownership.pods_of(workers, pods),
        collector_job=collector, collector_pods=ownership.pods_of(collector, pods),
        results_pvc=None if settings.results_claim else ours(
            "v1", "PersistentVolumeClaim", names.results(name)))
    waiting = [p for p in obs.master_pods + obs.worker_pods + obs.collector_pods
               if pod_start.needs_events(p)]
    if obs.results_pvc and (obs.results_pvc.get("status") or {}).get("phase") == "Pending":
        waiting.append(obs.results_pvc)
    now = status.now_utc()
    for obj in waiting:
        if not pod_start.events_matter(obj, now, settings.pod_start_grace):
            continue
        obs.events += kube.list_("v1", "Event", ns, field_selector=(
            f"involvedObject.uid={obj['metadata']['uid']}"))
    return obs


@kopf.timer(*RESOURCE, interval=SETTINGS.operator_interval,
            initial_delay=min(SETTINGS.operator_interval, 1.0),
            when=lambda status, **_: status.get("phase") in ACTIVE_PHASES)
async def follow_run(body, patch, memo: kopf.Memo, logger, **_) -> None:
    """Advance the phase from what the Jobs and Pods show; create the collector when due."""
    try:
        await _follow_run(body, patch, memo, logger)
    finally:
        await _pruned_when_finished(body, patch, memo, logger)


async def _follow_run(body, patch, memo: kopf.Memo, logger) -> None:
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    st = dict(body.get("status") or {})
    try:
        lt = await _run_of(body, memo)
    except (SpecError, ValueError, KeyError) as e:
        _fail_now(patch, st, "InvalidSpec", f"the run's stored spec is unusable: {e}", body)
        return
    obs = await asyncio.to_thread(_observe, ns, name, body["metadata"]["uid"], memo.settings)
    step = status.advance(st, obs, status.now_utc(), workers=lt.workers,
                          deadline_s=lt.timeouts.deadline_s,
                          workers_connect_s=lt.timeouts.workers_connect_s,
                          pod_start_grace_s=memo.settings.pod_start_grace)
    if step is None:
        return
    later = []
    if step.create_workers:
        later.append(builders.build_worker_job(lt, memo.settings))
    if step.create_collector:
        later.append(builders.build_collector_job(lt, memo.settings,
                                                  with_baseline=lt.baseline is not None))
    if later:
        try:
            waits = await _create_all(later, body, logger)
        except ChildRejected as e:
            _fail_now(patch, st, "ChildRejected", str(e), body)
            await asyncio.to_thread(_finish_jobs, lt, body["metadata"]["uid"], logger,
                                    stop=True)
            return
        if waits:  # an earlier run's Job of that name is still being deleted: next tick
            logger.info("waiting to create a Job: %s", waits[0])
            return
    patch.status.update(step.patch)
    for etype, reason, msg in step.events:
        kopf.event(body, type=etype, reason=reason, message=msg)
    if step.phase in status.TERMINAL:
        memo.runs.pop(body["metadata"]["uid"], None)
        await asyncio.to_thread(_finish_jobs, lt, body["metadata"]["uid"], logger,
                                stop=step.phase == status.FAILED)


def _finish_jobs(lt, uid: str, logger, *, stop: bool) -> None:
    """The run has its verdict. Its Jobs may now go ttlSecondsAfterFinished after they finish
    (set at creation, a short TTL could delete a Job before its outcome was read). With `stop`
    (the run Failed), a Job still running is suspended: the Job controller then deletes its
    pods, so a failed run (deadline, a pod that cannot start, a rejected child) stops sending
    load at once instead of at the Job's activeDeadlineSeconds. (A Succeeded run's Jobs are
    done or finishing: the master completed and the collector answered.)"""
    ttl = lt.ttl_seconds_after_finished
    for job_name in (names.master(lt.name), names.workers(lt.name), names.collector(lt.name)):
        try:
            job = ownership.ours_or_none(kube.get("batch/v1", "Job", lt.namespace, job_name), uid)
            if job is None:
                continue
            change = {}
            if job["spec"].get("ttlSecondsAfterFinished") != ttl:
                change["ttlSecondsAfterFinished"] = ttl
            if stop and status.job_state(job) == "active" and not job["spec"].get("suspend"):
                change["suspend"] = True
                logger.info("suspending Job %s: the run has its verdict", job_name)
            if change:
                kube.patch("batch/v1", "Job", lt.namespace, job_name, {"spec": change})
        except Exception as e:  # best effort: the verdict stands; the Job stays until pruned
            logger.warning("could not finish Job %s: %s", job_name, e)
