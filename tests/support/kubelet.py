"""The parts of a cluster the kmock emulator lacks, played for real: the Job controller and a
kubelet that runs each Job's pods in Docker (podrunner) and writes Job and Pod status back,
plus the API server's TLS front (a pod's service-account config speaks only https).

Job controller, from the batch/v1 Job documentation: `parallelism` pods from the template
(labels + `job-name`, owned by the Job); status `active`, `ready`, `succeeded`, `failed`,
`startTime`; condition Complete once `completions` pods succeeded; with backoffLimit 0 the
first failed pod fails the Job (BackoffLimitExceeded) and its other pods are terminated;
`activeDeadlineSeconds` past `startTime` terminates them all (DeadlineExceeded).
`ttlSecondsAfterFinished` is the TTL controller's business: not played, the Jobs stay.
Kubelet: Pod status (phase, conditions, init and container statuses: started, ready,
terminated with exit code and termination message) as podrunner reports it, patched on change.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
import time
import traceback
import uuid
from pathlib import Path

from loadgate_operator import kube

from support import podrunner
from support.kube_controllers import now_iso

JOB_FIELDS = {"backoffLimit", "parallelism", "completions", "ttlSecondsAfterFinished",
              "activeDeadlineSeconds", "template", "podFailurePolicy"}
# podFailurePolicy rules this controller can honour: a pod with one of these conditions True
# fails the Job (the pods run here are never evicted or preempted, so none ever carries one;
# a rule on anything else, such as exit codes, is refused rather than ignored)
POD_FAILURE_CONDITIONS = {"DisruptionTarget"}


def _cond(type_: str, reason: str, message: str) -> dict:
    t = now_iso()
    return {"type": type_, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": t, "lastTransitionTime": t}


def job_status(job: dict, pods: list[podrunner.Pod], started: str, *,
               deadline_exceeded: bool = False) -> dict:
    """batch/v1 JobStatus from the pods' phases (backoffLimit 0: no retries)."""
    spec = job["spec"]
    completions = spec.get("completions") or 1
    phases = [p.phase for p in pods]
    succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
    active = len(pods) - succeeded - failed
    ready = sum(1 for p in pods if p.phase == "Running" and all(b.ready for b in p.main))
    st = {"startTime": started, "active": active, "ready": ready, "succeeded": succeeded,
          "failed": failed}
    if deadline_exceeded:
        st["conditions"] = [_cond("Failed", "DeadlineExceeded",
                                  "Job was active longer than specified deadline")]
    elif failed > spec.get("backoffLimit", 6):
        st["conditions"] = [_cond("Failed", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit")]
    elif succeeded >= completions:
        st["conditions"] = [_cond("Complete", "", "")]
        st["completionTime"] = now_iso()
    return st


def pod_object(job: dict, index: int) -> dict:
    """The Pod the Job controller creates from the Job's template."""
    name, meta = job["metadata"]["name"], job["metadata"]
    tmpl = job["spec"]["template"]
    labels = {**(tmpl.get("metadata") or {}).get("labels", {}), "job-name": name,
              "batch.kubernetes.io/job-name": name, "controller-uid": meta["uid"]}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-{index}-{uuid.uuid4().hex[:5]}",
                         "namespace": meta["namespace"], "labels": labels,
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": name, "uid": meta["uid"],
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": tmpl["spec"], "status": {"phase": "Pending"}}


class _JobRun:
    def __init__(self, job: dict, pods: list[tuple[dict, podrunner.Pod]]) -> None:
        self.job, self.pods = job, pods
        self.started = now_iso()
        self.t0 = time.monotonic()
        self.deadline_exceeded = False
        self.last_job_status: dict | None = None
        self.last_pod_status: dict[str, str] = {}
        self.finished = False


class Kubelet:
    """Polls the emulator's Jobs in one namespace and runs their pods; start()/stop()."""

    def __init__(self, cluster: podrunner.Cluster, *, images: dict[str, str] | None = None,
                 interval: float = 0.3) -> None:
        self.cluster, self.images, self.interval = cluster, images or {}, interval
        self.ns = cluster.namespace
        self.runs: dict[str, _JobRun] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        podrunner.remove_all(self.pods())

    def pods(self) -> list[podrunner.Pod]:
        return [p for r in self.runs.values() for _, p in r.pods]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - surfaced by the test through .errors
                self.errors.append(traceback.format_exc())
            self._stop.wait(self.interval)

    def _refresh_cluster(self) -> None:
        for svc in kube.list_("v1", "Service", self.ns, ""):
            ports = svc["spec"].get("ports") or []
            for p in ports:
                if p.get("targetPort", p["port"]) != p["port"]:
                    raise podrunner.Unsupported(
                        f"Service {svc['metadata']['name']}: port {p['port']} -> targetPort "
                        f"{p.get('targetPort')} cannot be mapped on the host network")
            self.cluster.services[svc["metadata"]["name"]] = ports
        for cm in kube.list_("v1", "ConfigMap", self.ns, ""):
            self.cluster.config_maps[cm["metadata"]["name"]] = dict(cm.get("data") or {})

    def _tick(self) -> None:
        jobs = kube.list_("batch/v1", "Job", self.ns, "")
        new = [j for j in jobs if j["metadata"]["uid"] not in self.runs]
        if new:
            self._refresh_cluster()
        for job in new:
            self._start_job(job)
        for run in self.runs.values():
            if not run.finished:
                self._sync(run)

    def _start_job(self, job: dict) -> None:
        spec = job["spec"]
        unknown = set(spec) - JOB_FIELDS
        if unknown:
            raise podrunner.Unsupported(f"Job {job['metadata']['name']}: {sorted(unknown)}")
        if spec.get("backoffLimit", 6) != 0:
            raise podrunner.Unsupported("Job backoffLimit > 0: this controller never retries")
        for rule in (spec.get("podFailurePolicy") or {}).get("rules", []):
            conditions = {c.get("type") for c in rule.get("onPodConditions") or []}
            if set(rule) != {"action", "onPodConditions"} or rule["action"] != "FailJob" or \
                    not conditions <= POD_FAILURE_CONDITIONS:
                raise podrunner.Unsupported(f"Job {job['metadata']['name']}: podFailurePolicy "
                                            f"rule {rule} (only FailJob on {POD_FAILURE_CONDITIONS})")
        n = spec.get("parallelism", 1)
        if (spec.get("completions") or n) != n:
            raise podrunner.Unsupported("Job completions != parallelism")
        pods = []
        for i in range(n):
            obj = pod_object(job, i)
            kube.request("POST", kube.collection("v1", "Pod", self.ns), body=obj)
            pod = podrunner.Pod(obj["metadata"]["name"], obj["spec"], self.cluster,
                                images=self.images)
            pods.append((obj, pod.start()))
        self.runs[job["metadata"]["uid"]] = _JobRun(job, pods)

    def _sync(self, run: _JobRun) -> None:
        name = run.job["metadata"]["name"]
        deadline = run.job["spec"].get("activeDeadlineSeconds")
        if deadline and time.monotonic() - run.t0 > deadline and not run.deadline_exceeded:
            run.deadline_exceeded = True
            for _, pod in run.pods:
                threading.Thread(target=pod.delete, daemon=True).start()
        for obj, pod in run.pods:
            st = pod.status()
            text = json.dumps(st, sort_keys=True)
            if run.last_pod_status.get(obj["metadata"]["name"]) != text:
                kube.patch("v1", "Pod", self.ns, obj["metadata"]["name"], {"status": st})
                run.last_pod_status[obj["metadata"]["name"]] = text
        st = job_status(run.job, [p for _, p in run.pods], run.started,
                        deadline_exceeded=run.deadline_exceeded)
        if st != run.last_job_status:
            kube.patch("batch/v1", "Job", self.ns, name, {"status": st}, subresource="status")
            run.last_job_status = st
        if st.get("conditions"):
            run.finished = True
            if st["conditions"][0]["type"] == "Failed":
                for _, pod in run.pods:  # the Job controller terminates what still runs
                    if pod.phase not in ("Succeeded", "Failed"):
                        threading.Thread(target=pod.delete, daemon=True).start()


class ApiTls:
    """TLS in front of the emulator's plain-HTTP port, with a self-signed certificate for
    127.0.0.1: in-cluster clients (a service-account token) only speak https."""

    def __init__(self, upstream_port: int, workdir: Path) -> None:
        self.upstream_port = upstream_port
        self.ca_file = workdir / "apiserver.crt"
        key = workdir / "apiserver.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(self.ca_file), "-days", "2",
                        "-subj", "/CN=kubernetes",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:kubernetes,"
                                   "DNS:kubernetes.default.svc"],
                       check=True, capture_output=True, timeout=60)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.ca_file, key)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ApiTls:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TLS front did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ctx))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _handle(self, reader, writer) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(r, w) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    def api_server(self) -> podrunner.ApiServer:
        return podrunner.ApiServer(host="127.0.0.1", port=self.port, ca_file=self.ca_file)
