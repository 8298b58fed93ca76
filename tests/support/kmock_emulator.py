"""kmock 0.8's KubernetesEmulator, taught enough API-server behaviour for kopf (DEVELOPERS.md).

Runs in a background thread with its own event loop so the operator under test can be a real
subprocess (`loadgate operator`) talking HTTP to it through a kubeconfig file.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import itertools
import json
import re
import threading
import uuid
from pathlib import Path

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import enums
from kmock._internal.k8s import KubernetesError

from support.kube_rbac import Authorizer, attributes, owner_reference_checks

RESOURCES = {
    "v1/namespaces": dict(kind="Namespace", namespaced=False),
    "v1/pods": dict(kind="Pod", namespaced=True),
    "v1/services": dict(kind="Service", namespaced=True),
    "v1/configmaps": dict(kind="ConfigMap", namespaced=True),
    "v1/persistentvolumeclaims": dict(kind="PersistentVolumeClaim", namespaced=True),
    "v1/events": dict(kind="Event", namespaced=True),
    "events.k8s.io/v1/events": dict(kind="Event", namespaced=True),
    "batch/v1/jobs": dict(kind="Job", namespaced=True, subresources={"status"}),
    "loadgate.dev/v1alpha1/loadtests": dict(kind="LoadTest", namespaced=True, singular="loadtest",
                                            shortnames={"lt"}, subresources={"status"}),
}
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}


@attrs.frozen
class Unprocessable(KubernetesError):
    status: int = 422
    reason: str = "Invalid"
    message: str = "a JSON-patch test operation failed"


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply_json_patch(doc: dict, ops: list[dict]) -> dict:
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _pointer(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        key = parts[-1] if parts else None
        kind = op["op"]
        if kind == "test":
            cur = (parent[int(key)] if isinstance(parent, list) else parent.get(key, None))
            if cur != op.get("value"):
                raise Unprocessable()
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                if key == "-":
                    parent.append(op["value"])
                elif kind == "add":
                    parent.insert(int(key), op["value"])
                else:
                    parent[int(key)] = op["value"]
            else:
                parent[key] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(key)]
            else:
                parent.pop(key, None)
        else:
            raise Unprocessable(message=f"unsupported JSON-patch op {kind!r}")
    return doc


def selector_matches(obj: dict, selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclasses.dataclass
class Fault:
    """Answers for the requests of `user` whose path contains `path`, in place of the real ones:
    each of `answers` once (an HTTP status, or "reset" for a dropped connection), then
    `forever` (if set) for every later one."""

    user: str | None
    path: str
    answers: list = dataclasses.field(default_factory=list)
    forever: int | str | None = None
    served: int = 0

    def next_answer(self):
        if self.answers:
            self.served += 1
            return self.answers.pop(0)
        if self.forever is not None:
            self.served += 1
        return self.forever


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    headers = {"Retry-After": "1"} if code == 429 else None
    return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                      "status": "Failure", "message": message,
                                      "reason": reason, "code": code},
                                     status=code, headers=headers)


class Emulator(kmock.KubernetesEmulator):
    """Stamps metadata, bumps resourceVersion/generation, JSON-patch, labelSelector, no lost events.

    Requests carry a bearer token naming their user. `rbac[user]` (an Authorizer) makes the
    emulator answer 403 like the API server's RBAC authorizer for that user (recorded in
    `forbidden`); users without one are cluster admins. `faults` inject failures (5xx, 429,
    dropped connections) for one user's requests.
    """

    _rv = itertools.count(1000)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, info in RESOURCES.items():
            self.resources[key] = kmock.ResourceInfo(verbs=VERBS, **info)
        self.rbac: dict[str, Authorizer] = {}
        self.forbidden: list[str] = []
        self.faults: list[Fault] = []
        # (API group, kind) -> plural, for the owner-reference admission check
        self.plurals = {(k.split("/")[0] if k.count("/") == 2 else "", v["kind"]):
                        k.rsplit("/", 1)[1] for k, v in RESOURCES.items()}

    def _fault(self, user: str, path: str):
        for fault in self.faults:
            if fault.user in (None, user) and fault.path in path:
                answer = fault.next_answer()
                if answer is not None:
                    return answer
        return None

    async def _denied(self, raw_request, user: str) -> aiohttp.web.Response | None:
        """403 as RBAC (and the OwnerReferencesPermissionEnforcement admission) would answer."""
        auth = self.rbac.get(user)
        a = attributes(raw_request.method, raw_request.path, dict(raw_request.query))
        if auth is None or a is None:
            return None
        checks = [a]
        if a.verb in ("create", "update", "patch") and raw_request.can_read_body:
            try:
                body = json.loads(await raw_request.read() or b"null")
            except ValueError:
                body = None
            checks += owner_reference_checks(body, a.namespace, self.plurals)
        for check in checks:
            if not auth.allows(check):
                why = auth.why_not(check, f'User "{user}"')
                self.forbidden.append(why)
                return _status(403, "Forbidden", f"{a.resource} is forbidden: {why}")
        return None

    namespaces = ("lg",)
    # (plural, subresource) of every write that carried a "status" key: proves the operator
    # writes .status through the status subresource, as a real API server requires
    status_writes: list = []

    async def __call__(self, raw_request):
        user = (raw_request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        answer = self._fault(user, raw_request.path)
        if answer == "reset":
            raw_request.transport.abort()  # the client sees the connection dropped mid-request
            return aiohttp.web.Response(status=500)
        if answer is not None:
            return _status(int(answer), "InternalError" if answer >= 500 else "TooManyRequests",
                           f"injected fault {answer}")
        denied = await self._denied(raw_request, user)
        if denied is not None:
            return denied
        # kmock 0.8 cannot parse the cluster-wide /api/v1/namespaces path: serve it here
        if raw_request.path.rstrip("/") == "/api/v1/namespaces" and raw_request.method == "GET":
            if raw_request.query.get("watch") in ("true", "1"):
                resp = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
                await resp.prepare(raw_request)
                timeout = float(raw_request.query.get("timeoutSeconds") or 60)
                await asyncio.sleep(min(timeout, 60))
                return resp
            return aiohttp.web.json_response({
                "apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "1"},
                "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": n, "uid": f"ns-{n}", "resourceVersion": "1"}}
                    for n in self.namespaces]})
        return await super().__call__(raw_request)

    def _key(self, request):
        return (request.resource, request.namespace, request.name)

    def _evolve(self, request, **changes):
        """A changed copy of a (frozen) request, swapped into the history the filters consult."""
        new = attrs.evolve(request, **changes)
        for i in range(len(self._requests) - 1, -1, -1):
            if self._requests[i] is request:
                self._requests[i] = new
                break
        return new

    async def _handle(self, request):
        # kmock keeps every request and its filters rescan that history on each request:
        # O(n) per request makes a long test crawl. Nothing here asserts on old requests.
        if len(self._requests) > 64:
            del self._requests[:-32]
        if request.resource is not None and request.action == enums.action.CREATE \
                and isinstance(request.data, dict):
            data = copy.deepcopy(request.data)
            meta = data.setdefault("metadata", {})
            if request.resource.plural == "services" and not DNS1035.match(
                    meta.get("name") or ""):
                raise Unprocessable(message=f"Service {meta.get('name')!r} is invalid: a "
                                            "DNS-1035 label must start with a letter")
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            if request.namespace:
                meta["namespace"] = request.namespace
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["resourceVersion"] = str(next(self._rv))
            meta["generation"] = 1
            meta.setdefault("creationTimestamp", datetime.datetime.now(datetime.UTC)
                            .strftime("%Y-%m-%dT%H:%M:%SZ"))
            request = self._evolve(request, data=data)
        elif request.resource is not None and request.action == enums.action.UPDATE \
                and request.name is not None:
            key = self._key(request)
            obj = self._objects[key] if key in self._objects else None
            if obj is not None and not obj.deleted:
                data = request.data
                if isinstance(data, dict) and "status" in data:
                    self.status_writes.append((request.resource.plural, request.subresource))
                if isinstance(data, list):  # JSON patch: apply here, replace the object
                    new = apply_json_patch(obj.raw, data)
                    async with self._lock:
                        obj.delete()
                        obj.create(new)
                    data = {}
                data = copy.deepcopy(data or {})
                meta = data.setdefault("metadata", {}) if isinstance(data, dict) else {}
                meta["resourceVersion"] = str(next(self._rv))
                if request.subresource is None and "spec" in data:
                    meta["generation"] = int(obj.raw.get("metadata", {})
                                             .get("generation") or 1) + 1
                if request.subresource == "status":
                    data = {"status": data.get("status"), "metadata": meta}
                request = self._evolve(request, data=data)
        return await super()._handle(request)

    async def _serve_list(self, request):
        doc = await super()._serve_list(request)
        sel = request.params.get("labelSelector")
        doc["items"] = [o for o in doc["items"] if selector_matches(o, sel)]
        doc["metadata"] = {"resourceVersion": str(next(self._rv))}
        return doc

    async def _serve_watch(self, request):
        yield b""
        bus = self._buses[request.resource]
        sel = request.params.get("labelSelector")
        marker = await bus.mark()  # subscribe before the snapshot: nothing falls in between
        try:
            async with self._lock:
                objs = self._KubernetesEmulator__get_objs(request, strict=False)
                events = [{"type": "ADDED", "object": o.raw} for o in objs if not o.deleted]
            for event in events:
                if selector_matches(event["object"], sel):
                    yield event
            async for event in bus.stream(since=marker):
                o = event.get("object", {})
                meta = o.get("metadata", {})
                if self._KubernetesEmulator__check(request, request.resource,
                                                   meta.get("namespace"), meta.get("name"),
                                                   strict=False) and selector_matches(o, sel):
                    yield event
        finally:
            await bus.unmark(marker)


class EmulatorThread:
    """The emulator on 127.0.0.1 in a daemon thread; `.kubeconfig` points clients at it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.emulator: Emulator | None = None
        self.url = ""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with Emulator() as em, kmock.Server(em) as server:
            self.emulator = em
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> EmulatorThread:
        self.thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("the Kubernetes emulator did not start")
        self.kubeconfig = self.kubeconfig_for("test")  # a cluster admin
        return self

    def kubeconfig_for(self, user: str) -> Path:
        """A kubeconfig whose bearer token names `user` (see Emulator.rbac and .faults)."""
        path = self.tmp / f"kubeconfig-{user}"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "kmock", "user": {"token": user}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock",
                                                       "namespace": "lg"}}],
        }))
        return path

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def put(self, plural_key: str, namespace: str | None, name: str, obj: dict) -> None:
        async def write():
            self.emulator.objects[kmock.resource(plural_key), namespace, name] = obj
        asyncio.run_coroutine_threadsafe(write(), self.loop).result(10)

    def objects(self, plural_key: str) -> list[dict]:
        """Current (non-deleted) objects of e.g. 'batch/v1/jobs', read safely from the loop."""
        async def read():
            out = []
            for (resource, _ns, _name), obj in list(self.emulator.objects.items()):
                if f"{resource.group + '/' if resource.group else ''}{resource.version}/" \
                        f"{resource.plural}" == plural_key and not obj.deleted:
                    out.append(json.loads(json.dumps(obj.raw)))
            return out
        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(10)
