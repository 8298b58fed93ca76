"""kopf handlers: thin glue between the API server and the pure builders/status modules."""

from __future__ import annotations

import asyncio
import json

import kopf
from kubernetes.client.rest import ApiException

from loadgate.gate.summary import baseline_problem
from loadgate.spec import RUNTIME_FILE, SpecError, document, parse
from loadgate_operator import builders, kube, names, status
from loadgate_operator.settings import OperatorSettings, settings_or_exit

RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
ACTIVE_PHASES = (status.WAITING, status.RUNNING, status.COLLECTING)
# read once, when the handlers are registered: the timer's interval is fixed there
SETTINGS = settings_or_exit()


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger, **_) -> None:
    """All kopf and operator settings in one place."""
    settings.peering.standalone = True            # one replica; no KopfPeering CRD needed
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


class ChildRejected(Exception):
    """The API server refused a child for good (invalid object, forbidden): no retry helps."""


def _api_message(e: ApiException) -> str:
    try:
        return json.loads(e.body or "{}").get("message") or str(e.reason)
    except ValueError:
        return str(e.reason)


async def _create_all(children: list[dict], body, logger) -> None:
    """Create each child (an existing one is fine); retry on transient errors only."""
    for child in children:
        kopf.adopt(child, owner=body)
        what = f"{child['kind']} {child['metadata']['name']}"
        try:
            _, created = await asyncio.to_thread(kube.create, child)
        except ApiException as e:
            if e.status in (400, 403, 404, 422):
                raise ChildRejected(f"the API server rejected {what}: {e.status} "
                                    f"{_api_message(e)}") from e
            raise kopf.TemporaryError(f"creating {what}: {e.status} {e.reason}", delay=5) from e
        logger.info("%s %s", what, "created" if created else "already exists")


@kopf.on.create(*RESOURCE)
async def start_run(body, patch, memo: kopf.Memo, logger, **_) -> None:
    """Parse and validate the spec, then create the run's children (idempotently)."""
    st = dict(body.get("status") or {})
    if st.get("phase") in status.TERMINAL:
        return
    try:
        lt = parse(_manifest(body))
    except SpecError as e:
        _fail_now(patch, st, "InvalidSpec", f"invalid spec: {e}", body)
        return
    baseline, why = await _baseline(lt, lt.namespace)
    if why:
        _fail_now(patch, st, "BaselineUnavailable", why, body)
        return
    settings: OperatorSettings = memo.settings
    try:
        await _create_all(builders.build_children(lt, settings, baseline=baseline), body,
                          logger)
    except ChildRejected as e:
        _fail_now(patch, st, "ChildRejected", str(e), body)
        return
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
        cm = await asyncio.to_thread(kube.get, "v1", "ConfigMap", ns, names.config(name))
        doc = json.loads(cm["data"][RUNTIME_FILE]) if cm else _manifest(body)
        memo.runs[uid] = parse(doc)
    return memo.runs[uid]


def _observe(ns: str, name: str) -> status.Observed:
    def pods(component: str) -> list[dict]:
        return kube.list_("v1", "Pod", ns, names.label_selector(name, component))

    return status.Observed(
        master_job=kube.get("batch/v1", "Job", ns, names.master(name)),
        master_pods=pods("master"),
        worker_job=kube.get("batch/v1", "Job", ns, names.workers(name)),
        worker_pods=pods("workers"),
        collector_job=kube.get("batch/v1", "Job", ns, names.collector(name)),
        collector_pods=pods("collector"),
    )


@kopf.timer(*RESOURCE, interval=SETTINGS.operator_interval,
            initial_delay=min(SETTINGS.operator_interval, 1.0),
            when=lambda status, **_: status.get("phase") in ACTIVE_PHASES)
async def follow_run(body, patch, memo: kopf.Memo, logger, **_) -> None:
    """Advance the phase from what the Jobs and Pods show; create the collector when due."""
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    st = dict(body.get("status") or {})
    try:
        lt = await _run_of(body, memo)
    except (SpecError, ValueError, KeyError) as e:
        _fail_now(patch, st, "InvalidSpec", f"the run's stored spec is unusable: {e}", body)
        return
    obs = await asyncio.to_thread(_observe, ns, name)
    step = status.advance(st, obs, status.now_utc(), workers=lt.workers,
                          deadline_s=lt.timeouts.deadline_s,
                          workers_connect_s=lt.timeouts.workers_connect_s)
    if step is None:
        return
    if step.create_collector:
        job = builders.build_collector_job(lt, memo.settings,
                                           with_baseline=lt.baseline is not None)
        try:
            await _create_all([job], body, logger)
        except ChildRejected as e:
            _fail_now(patch, st, "ChildRejected", str(e), body)
            return
    patch.status.update(step.patch)
    for etype, reason, msg in step.events:
        kopf.event(body, type=etype, reason=reason, message=msg)
    if step.phase in status.TERMINAL:
        memo.runs.pop(body["metadata"]["uid"], None)
