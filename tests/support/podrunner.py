"""Run a Pod spec exactly as rendered (chart or `build_*`) as Docker containers, the way a
kubelet would, and report its status in the shape of a v1 PodStatus.

What it does with each field (anything else fails the test: nothing new slips past unrun):
  command / args / env   --entrypoint + argv (command replaces ENTRYPOINT, args CMD; `$(VAR)`
                         expanded from the container's env), -e; workingDir -> -w
  runAsUser/runAsGroup   --user uid[:gid]; fsGroup and supplementalGroups -> --group-add;
                         runAsNonRoot is checked against the uid (or the image's USER) first
  readOnlyRootFilesystem --read-only; capabilities.drop ALL -> --cap-drop ALL (add -> --cap-add)
  allowPrivilegeEscalation: false -> --security-opt no-new-privileges
  seccompProfile         RuntimeDefault: the engine's default profile; Unconfined
  emptyDir               a tmpfs of its sizeLimit (per container: nothing here shares one)
  configMap volume       its files (mode 0644), mounted read-only
  persistentVolumeClaim  a host directory, given the pod's fsGroup as the kubelet does (group
                         fsGroup, g+rw, setgid on directories); subPath created and honoured
  terminationMessagePath a 0666 file mounted there, read back after exit (last 4096 bytes;
                         FallbackToLogsOnError: the log's last 80 lines / 2048 bytes)
  serviceAccount token   with automountServiceAccountToken (default true) and an API server
                         given: token, ca.crt, namespace at /var/run/secrets/kubernetes.io/
                         serviceaccount and KUBERNETES_SERVICE_HOST/PORT
  enableServiceLinks     (default true) the docker-link env vars of every Service
  initContainers         first, one at a time, each to completion; a failure ends the pod
  resources.limits       cpu -> --cpus, memory -> --memory (requests: the scheduler's business)
  probes (httpGet)       startup, then readiness (the container's `ready`) and liveness
                         (a failure is recorded and kills the container)
  terminationGracePeriodSeconds  `docker stop -t` when the pod is deleted
  network                the host's, Service names mapped to 127.0.0.1 (--add-host)
  shareProcessNamespace  the container's command is not PID 1 (the pause process is): --init
Scheduling fields (nodeSelector, affinity, tolerations), imagePullPolicy/Secrets (images are
local) and ports (host network) are accepted and need nothing. No restarts: a container that
exits is reported, whatever the restartPolicy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from support.docker_engine import DOCKER, docker
from support.kube_controllers import now_iso

# every container of this test session carries it: cleanup never touches anyone else's
SESSION_LABEL = f"loadgate-test.session={uuid.uuid4().hex[:12]}"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
MAX_MESSAGE = 4096
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048

POD_FIELDS = {"containers", "initContainers", "volumes", "securityContext", "restartPolicy",
              "serviceAccountName", "automountServiceAccountToken", "enableServiceLinks",
              "terminationGracePeriodSeconds", "imagePullSecrets", "nodeSelector", "affinity",
              "tolerations", "shareProcessNamespace"}
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "workingDir", "env",
                    "ports", "resources", "securityContext", "volumeMounts",
                    "terminationMessagePath", "terminationMessagePolicy", "startupProbe",
                    "readinessProbe", "livenessProbe"}
POD_SECURITY_FIELDS = {"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup",
                       "supplementalGroups", "seccompProfile"}
CONTAINER_SECURITY_FIELDS = {"runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile",
                             "readOnlyRootFilesystem", "allowPrivilegeEscalation",
                             "capabilities", "privileged"}
VOLUME_KINDS = {"emptyDir": {"sizeLimit", "medium"}, "configMap": {"name"},
                "persistentVolumeClaim": {"claimName", "readOnly"}}
MOUNT_FIELDS = {"name", "mountPath", "readOnly", "subPath"}
PROBE_FIELDS = {"httpGet", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                "failureThreshold", "successThreshold"}
HTTP_GET_FIELDS = {"path", "port", "scheme"}
ENV_FIELDS = {"name", "value"}
PORT_FIELDS = {"name", "containerPort", "protocol"}
RESOURCE_FIELDS = {"requests", "limits"}


class Unsupported(AssertionError):
    """The spec has a field this runner does not know how to run: extend the runner."""


class PodFailedToStart(AssertionError):
    """What the kubelet would refuse (CreateContainerConfigError and the like)."""


def _check(obj: dict, allowed: set[str], where: str) -> None:
    unknown = set(obj or {}) - allowed
    if unknown:
        raise Unsupported(f"{where}: the pod runner does not run {sorted(unknown)}; teach "
                          "tests/support/podrunner.py what the kubelet does with it")


def cpu_limit(q) -> str:
    s = str(q)
    return f"{int(s[:-1]) / 1000:g}" if s.endswith("m") else f"{float(s):g}"


_MEM = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6,
        "G": 10**9, "T": 10**12}


def memory_bytes(q) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|k)?", str(q))
    if not m:
        raise Unsupported(f"memory quantity {q!r}")
    return int(float(m.group(1)) * _MEM.get(m.group(2) or "", 1))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args/env ($$ escapes; unknown refs stay)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                  text)


@dataclass
class ApiServer:
    """How pods reach the Kubernetes API: what the kubelet mounts for a service account."""
    host: str
    port: int
    ca_file: Path
    token: str = "loadgate-test-token"


@dataclass
class Cluster:
    """What the pods of one namespace see: Services, ConfigMaps, PVCs, the API server."""
    namespace: str
    workdir: Path
    services: dict[str, list[dict]] = field(default_factory=dict)  # name -> Service ports
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: dict[str, Path] = field(default_factory=dict)
    api: ApiServer | None = None

    def claim_dir(self, claim: str) -> Path:
        """The claim's volume: made on first use as a provisioner would (root, 0755)."""
        if claim not in self.claims:
            path = self.workdir / "pv" / claim
            path.mkdir(parents=True, mode=0o755)
            path.chmod(0o755)
            self.claims[claim] = path
        return self.claims[claim]

    def hosts(self) -> list[str]:
        out = []
        for name in self.services:
            for alias in (name, f"{name}.{self.namespace}", f"{name}.{self.namespace}.svc",
                          f"{name}.{self.namespace}.svc.cluster.local"):
                out += ["--add-host", f"{alias}:127.0.0.1"]
        return out

    def service_link_env(self) -> dict[str, str]:
        """The docker-link style variables the kubelet sets for each Service (service links)."""
        env: dict[str, str] = {}
        for name, ports in self.services.items():
            prefix = name.upper().replace("-", "_")
            if not ports:
                continue
            env[f"{prefix}_SERVICE_HOST"] = "127.0.0.1"
            env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
            env[f"{prefix}_PORT"] = f"tcp://127.0.0.1:{ports[0]['port']}"
            for p in ports:
                proto = (p.get("protocol") or "TCP")
                base = f"{prefix}_PORT_{p['port']}_{proto}"
                env[base] = f"{proto.lower()}://127.0.0.1:{p['port']}"
                env[f"{base}_PROTO"] = proto.lower()
                env[f"{base}_PORT"] = str(p["port"])
                env[f"{base}_ADDR"] = "127.0.0.1"
                if p.get("name"):
                    env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = \
                        str(p["port"])
        return env


@dataclass
class _Container:
    spec: dict
    init: bool
    cid: str = ""
    docker_name: str = ""
    termlog: Path | None = None
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "PodInitializing"}})
    ready: bool = False
    started: bool = False
    probe_failures: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec["name"]

    def status(self) -> dict:
        return {"name": self.name, "image": self.spec["image"], "state": dict(self.state),
                "ready": self.ready, "started": self.started, "restartCount": 0}


class Pod:
    """One pod: validated at construction, run by start(), observed by status()."""

    def __init__(self, name: str, spec: dict, cluster: Cluster, *,
                 images: dict[str, str] | None = None) -> None:
        self.name, self.spec, self.cluster = name, spec, cluster
        self.images = images or {}       # image in the spec -> local tag (None: as written)
        self.dir = cluster.workdir / "pods" / f"{name}-{uuid.uuid4().hex[:6]}"
        self._validate()
        self.init = [_Container(c, True) for c in spec.get("initContainers") or []]
        self.main = [_Container(c, False) for c in spec["containers"]]
        for c in self.main:
            c.state = {"waiting": {"reason": "PodInitializing" if self.init
                                   else "ContainerCreating"}}
        self.phase = "Pending"
        self.start_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.deleted = False

    # ---- validation ------------------------------------------------------------------
    def _validate(self) -> None:
        s = self.spec
        _check(s, POD_FIELDS, "pod spec")
        _check(s.get("securityContext"), POD_SECURITY_FIELDS, "pod securityContext")
        vols = {}
        for v in s.get("volumes") or []:
            kinds = set(v) - {"name"}
            if len(kinds) != 1 or next(iter(kinds)) not in VOLUME_KINDS:
                raise Unsupported(f"volume {v.get('name')}: kind {sorted(kinds)}")
            kind = kinds.pop()
            _check(v[kind], VOLUME_KINDS[kind], f"volume {v['name']} ({kind})")
            vols[v["name"]] = v
        self.volumes = vols
        for c in (s.get("initContainers") or []) + s["containers"]:
            where = f"container {c.get('name')}"
            _check(c, CONTAINER_FIELDS, where)
            _check(c.get("securityContext"), CONTAINER_SECURITY_FIELDS, f"{where} securityContext")
            if (c.get("securityContext") or {}).get("privileged"):
                raise Unsupported(f"{where}: privileged")
            _check(c.get("resources"), RESOURCE_FIELDS, f"{where} resources")
            for e in c.get("env") or []:
                _check(e, ENV_FIELDS, f"{where} env {e.get('name')}")
            for p in c.get("ports") or []:
                _check(p, PORT_FIELDS, f"{where} port")
            for m in c.get("volumeMounts") or []:
                _check(m, MOUNT_FIELDS, f"{where} volumeMount")
                if m["name"] not in vols:
                    raise PodFailedToStart(f"{where}: volumeMount of unknown volume {m['name']}")
                sub = m.get("subPath") or ""
                if sub.startswith("/") or ".." in sub.split("/"):
                    raise PodFailedToStart(f"{where}: invalid subPath {sub!r}")
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if kind in c:
                    _check(c[kind], PROBE_FIELDS, f"{where} {kind}")
                    if "httpGet" not in c[kind]:
                        raise Unsupported(f"{where} {kind}: only httpGet probes are run")
                    _check(c[kind]["httpGet"], HTTP_GET_FIELDS, f"{where} {kind}.httpGet")
                    if c[kind]["httpGet"].get("scheme", "HTTP") != "HTTP":
                        raise Unsupported(f"{where} {kind}: scheme")
            if c.get("terminationMessagePolicy", "File") not in ("File", "FallbackToLogsOnError"):
                raise Unsupported(f"{where}: terminationMessagePolicy")
            seccomp = self._security(c, "seccompProfile") or {}
            if seccomp and seccomp.get("type") not in ("RuntimeDefault", "Unconfined"):
                raise Unsupported(f"{where}: seccompProfile {seccomp}")

    def _security(self, c: dict, key: str):
        own = (c.get("securityContext") or {}).get(key)
        return own if own is not None else (self.spec.get("securityContext") or {}).get(key)

    # ---- docker run ------------------------------------------------------------------
    def _image(self, c: dict) -> str:
        return self.images.get(c["image"], c["image"])

    def _user_args(self, c: dict) -> list[str]:
        uid, gid = self._security(c, "runAsUser"), self._security(c, "runAsGroup")
        if self._security(c, "runAsNonRoot"):
            effective = uid
            if effective is None:
                user = docker("image", "inspect", "--format", "{{.Config.User}}",
                              self._image(c)).stdout.strip().split(":")[0]
                if not user.isdigit():
                    raise PodFailedToStart(
                        f"container {c['name']}: runAsNonRoot and the image's user {user!r} "
                        "is not numeric (the kubelet cannot verify it)")
                effective = int(user)
            if int(effective) == 0:
                raise PodFailedToStart(f"container {c['name']}: runAsNonRoot but runs as uid 0")
        args = []
        if uid is not None:
            args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        pod_sc = self.spec.get("securityContext") or {}
        for g in ([pod_sc["fsGroup"]] if "fsGroup" in pod_sc else []) + \
                list(pod_sc.get("supplementalGroups") or []):
            args += ["--group-add", str(g)]
        return args

    def _security_args(self, c: dict) -> list[str]:
        sc = c.get("securityContext") or {}
        args = []
        if sc.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        caps = sc.get("capabilities") or {}
        args += [a for cap in caps.get("drop") or [] for a in ("--cap-drop", cap)]
        args += [a for cap in caps.get("add") or [] for a in ("--cap-add", cap)]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        if (self._security(c, "seccompProfile") or {}).get("type") == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        return args

    def _volume_args(self, c: dict, box: _Container) -> list[str]:
        args = []
        fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")
        for m in c.get("volumeMounts") or []:
            vol = self.volumes[m["name"]]
            path, ro = m["mountPath"], bool(m.get("readOnly"))
            if "emptyDir" in vol:
                size = (vol["emptyDir"] or {}).get("sizeLimit")
                opts = "rw,exec,nosuid,nodev,mode=0777"
                if size:
                    opts += f",size={memory_bytes(size)}"
                args += ["--tmpfs", f"{path}:{opts}"]
            elif "configMap" in vol:
                src = self._config_map_dir(vol["configMap"]["name"])
                if m.get("subPath"):
                    src = src / m["subPath"]
                args += ["-v", f"{src}:{path}:ro"]
            else:
                claim = vol["persistentVolumeClaim"]
                root = self.cluster.claim_dir(claim["claimName"])
                _apply_fs_group(root, fs_group)
                src = root
                if m.get("subPath"):
                    src = root / m["subPath"]
                    _make_subpath(root, src)
                ro = ro or bool(claim.get("readOnly"))
                args += ["-v", f"{src}:{path}:{'ro' if ro else 'rw'}"]
        box.termlog = self.dir / f"{c['name']}.termination-log"
        box.termlog.touch()
        box.termlog.chmod(0o666)  # the kubelet makes it writable by any uid
        args += ["-v", f"{box.termlog}:{c.get('terminationMessagePath', '/dev/termination-log')}"]
        if self.spec.get("automountServiceAccountToken", True):
            if self.cluster.api is None:
                raise Unsupported("the pod mounts a service-account token (automount"
                                  "ServiceAccountToken is not false) but no API server is set")
            args += ["-v", f"{self._sa_dir()}:{SA_DIR}:ro"]
        return args

    def _config_map_dir(self, name: str) -> Path:
        if name not in self.cluster.config_maps:
            raise PodFailedToStart(f"configmap {name!r} not found")
        d = self.dir / "configmaps" / name
        if not d.exists():
            d.mkdir(parents=True)
            d.chmod(0o755)
            for key, text in self.cluster.config_maps[name].items():
                (d / key).write_text(text)
                (d / key).chmod(0o644)
        return d

    def _sa_dir(self) -> Path:
        d = self.dir / "serviceaccount"
        if not d.exists():
            d.mkdir(parents=True)
            api = self.cluster.api
            (d / "token").write_text(api.token)
            shutil.copyfile(api.ca_file, d / "ca.crt")
            (d / "namespace").write_text(self.cluster.namespace)
            for f in d.iterdir():
                f.chmod(0o644)
            d.chmod(0o755)
        return d

    def _env(self, c: dict) -> dict[str, str]:
        env: dict[str, str] = {}
        if self.spec.get("enableServiceLinks", True):
            env.update(self.cluster.service_link_env())
        if self.cluster.api is not None:
            env["KUBERNETES_SERVICE_HOST"] = self.cluster.api.host
            env["KUBERNETES_SERVICE_PORT"] = str(self.cluster.api.port)
        for e in c.get("env") or []:
            env[e["name"]] = expand(str(e.get("value", "")), env)
        return env

    def docker_run_args(self, c: dict, box: _Container) -> list[str]:
        box.docker_name = f"lg-{self.name}-{c['name']}-{uuid.uuid4().hex[:6]}"[:120]
        args = ["run", "--detach", "--name", box.docker_name, "--label", SESSION_LABEL,
                *(["--init"] if self.spec.get("shareProcessNamespace") else []),
                "--label", f"loadgate-test.pod={self.name}",
                "--network", "host", *self.cluster.hosts(), *self._user_args(c),
                *self._security_args(c), *self._volume_args(c, box)]
        env = self._env(c)
        for k, v in env.items():
            args += ["--env", f"{k}={v}"]
        limits = (c.get("resources") or {}).get("limits") or {}
        if "cpu" in limits:
            args += ["--cpus", cpu_limit(limits["cpu"])]
        if "memory" in limits:
            mem = str(memory_bytes(limits["memory"]))
            args += ["--memory", mem, "--memory-swap", mem]
        if c.get("workingDir"):
            args += ["--workdir", c["workingDir"]]
        command = [expand(x, env) for x in c.get("command") or []]
        argv = [expand(x, env) for x in c.get("args") or []]
        if command:
            args += ["--entrypoint", command[0], self._image(c), *command[1:], *argv]
        else:
            args += [self._image(c), *argv]
        return args

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> Pod:
        """Run init containers, then the containers, in the background; returns at once."""
        self.dir.mkdir(parents=True)
        t = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _launch(self, box: _Container) -> bool:
        try:
            cid = docker(*self.docker_run_args(box.spec, box), timeout=120).stdout.strip()
        except Exception as e:  # noqa: BLE001 - reported as the kubelet would
            box.state = {"waiting": {"reason": "CreateContainerError", "message": str(e)}}
            self.start_error = f"{box.name}: {e}"
            return False
        box.cid = cid
        box.started = True
        box.state = {"running": {"startedAt": now_iso()}}
        return True

    def _wait(self, box: _Container) -> int:
        proc = subprocess.run([DOCKER, "wait", box.cid], capture_output=True, text=True)
        try:
            code = int(proc.stdout.strip())
        except ValueError:
            code = -1
        info = docker("inspect", "--format", "{{.State.OOMKilled}} {{.State.StartedAt}} "
                      "{{.State.FinishedAt}}", box.cid, check=False).stdout.split()
        oom = bool(info) and info[0] == "true"
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        term = {"exitCode": code, "reason": reason,
                "startedAt": box.state.get("running", {}).get("startedAt") or now_iso(),
                "finishedAt": now_iso(), "containerID": f"docker://{box.cid}"}
        message = self._termination_message(box, code)
        if message:
            term["message"] = message
        box.ready = False
        box.state = {"terminated": term}
        return code

    def _termination_message(self, box: _Container, code: int) -> str:
        data = box.termlog.read_bytes()[-MAX_MESSAGE:] if box.termlog.exists() else b""
        if not data and code != 0 and \
                box.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            logs = self.logs(box.name)
            data = "\n".join(logs.splitlines()[-FALLBACK_LINES:]).encode()[-FALLBACK_BYTES:]
        return data.decode("utf-8", "replace")

    def _run(self) -> None:
        for box in self.init:
            if self._stop.is_set() or not self._launch(box):
                self.phase = "Failed"
                return
            if self._wait(box) != 0:
                self.phase = "Failed"  # restartPolicy Never: the pod fails with its init step
                for m in self.main:
                    m.state = {"waiting": {"reason": "PodInitializing"}}
                return
        if self._stop.is_set():
            self.phase = "Failed"
            return
        waiters = []
        for box in self.main:
            if not self._launch(box):
                self.phase = "Failed"
                return
        self.phase = "Running"
        for box in self.main:
            self._start_probes(box)
            w = threading.Thread(target=self._wait, args=(box,), daemon=True)
            w.start()
            waiters.append(w)
        for w in waiters:
            w.join()
        codes = [b.state["terminated"]["exitCode"] for b in self.main]
        self.phase = "Succeeded" if all(c == 0 for c in codes) else "Failed"

    # ---- probes ------------------------------------------------------------------------
    def _probe_url(self, c: dict, probe: dict) -> str:
        get = probe["httpGet"]
        port = get["port"]
        if isinstance(port, str) and not port.isdigit():
            port = next(p["containerPort"] for p in c.get("ports") or [] if p.get("name") == port)
        return f"http://127.0.0.1:{port}{get.get('path', '/')}"

    def _probe_once(self, url: str, timeout: float) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return 200 <= r.status < 400
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _start_probes(self, box: _Container) -> None:
        c = box.spec
        if "readinessProbe" not in c:
            box.ready = True  # no readiness probe: ready once running
        probes = {k: c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in c}
        if probes:
            t = threading.Thread(target=self._probe_loop, args=(box, probes), daemon=True)
            t.start()

    def _probe_loop(self, box: _Container, probes: dict) -> None:
        c = box.spec
        t0 = time.monotonic()
        state = {k: {"next": t0 + p.get("initialDelaySeconds", 0), "fails": 0, "ok": 0}
                 for k, p in probes.items()}
        started = "startupProbe" not in probes
        while not self._stop.is_set() and "running" in box.state:
            now = time.monotonic()
            for kind, p in probes.items():
                s = state[kind]
                if now < s["next"] or (kind != "startupProbe" and not started) or \
                        (kind == "startupProbe" and started):
                    continue
                s["next"] = now + p.get("periodSeconds", 10)
                ok = self._probe_once(self._probe_url(c, p), p.get("timeoutSeconds", 1))
                s["fails"], s["ok"] = (0, s["ok"] + 1) if ok else (s["fails"] + 1, 0)
                threshold = p.get("failureThreshold", 3)
                if kind == "startupProbe":
                    if ok:
                        started = True
                    elif s["fails"] >= threshold:
                        self._probe_kill(box, f"startup probe failed {threshold} times")
                elif kind == "readinessProbe":
                    if ok and s["ok"] >= p.get("successThreshold", 1):
                        box.ready = True
                    elif not ok and s["fails"] >= threshold:
                        box.ready = False
                elif not ok and s["fails"] >= threshold:
                    self._probe_kill(box, f"liveness probe failed {threshold} times")
            self._stop.wait(0.2)

    def _probe_kill(self, box: _Container, why: str) -> None:
        box.probe_failures.append(why)
        docker("kill", box.cid, check=False)

    # ---- observing -------------------------------------------------------------------
    def status(self) -> dict:
        """A v1 PodStatus: phase, conditions, initContainerStatuses, containerStatuses."""
        with self._lock:
            initialized = all("terminated" in b.state and b.state["terminated"]["exitCode"] == 0
                              for b in self.init)
            ready = self.phase == "Running" and all(b.ready for b in self.main)
            conds = [{"type": "PodScheduled", "status": "True"},
                     {"type": "Initialized", "status": str(initialized)},
                     {"type": "ContainersReady", "status": str(ready)},
                     {"type": "Ready", "status": str(ready)}]
            st = {"phase": self.phase, "conditions": conds, "hostIP": "127.0.0.1",
                  "podIP": "127.0.0.1",
                  "containerStatuses": [b.status() for b in self.main]}
            if self.init:
                st["initContainerStatuses"] = [b.status() for b in self.init]
            return st

    def container(self, name: str) -> _Container:
        return next(b for b in self.init + self.main if b.name == name)

    def logs(self, name: str) -> str:
        box = self.container(name)
        if not box.cid:
            return ""
        proc = docker("logs", box.cid, check=False, timeout=60)
        return proc.stdout + proc.stderr

    def wait(self, timeout: float) -> dict:
        """Block until the pod has finished (Succeeded or Failed); its status."""
        deadline = time.monotonic() + timeout
        while self.phase not in ("Succeeded", "Failed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"pod {self.name} still {self.phase} after {timeout}s:\n"
                                   + self.describe())
            time.sleep(0.2)
        return self.status()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not (self.phase == "Running" and all(b.ready for b in self.main)):
            if self.phase in ("Succeeded", "Failed") or time.monotonic() > deadline:
                raise TimeoutError(f"pod {self.name} not ready ({self.phase}):\n"
                                   + self.describe())
            time.sleep(0.2)

    def delete(self, grace: float | None = None) -> None:
        """What the kubelet does on deletion: SIGTERM, then SIGKILL after the grace period."""
        if grace is None:
            grace = self.spec.get("terminationGracePeriodSeconds", 30)
        self._stop.set()
        self.deleted = True
        running = [b.cid for b in self.init + self.main if b.cid and "running" in b.state]
        if running:
            docker("stop", "--time", str(int(grace)), *running, check=False,
                   timeout=grace + 60)

    def remove(self) -> None:
        """Test cleanup (idempotent): the containers go at once; delete() is the graceful path."""
        self._stop.set()
        self.deleted = True
        cids = [b.cid for b in self.init + self.main if b.cid]
        if cids:
            docker("rm", "--force", *cids, check=False, timeout=120)
        for t in self._threads:
            t.join(timeout=30)

    def describe(self) -> str:
        """Statuses and each container's log tail, for assertion messages."""
        lines = [f"pod {self.name}: {self.phase} {self.start_error or ''}"]
        for b in self.init + self.main:
            lines.append(f"  {b.name}: {b.state} {b.probe_failures or ''}")
            tail = self.logs(b.name).splitlines()[-15:]
            lines += [f"    | {x}" for x in tail]
        return "\n".join(lines)


def _apply_fs_group(root: Path, fs_group: int | None) -> None:
    """The kubelet's volume ownership for fsGroup: group fsGroup, group rw, setgid dirs."""
    if fs_group is None:
        return
    for p in [root, *root.rglob("*")]:
        shutil.chown(p, group=fs_group)
        mode = p.stat().st_mode & 0o7777
        p.chmod(mode | (0o2070 if p.is_dir() else 0o060))


def _make_subpath(root: Path, sub: Path) -> None:
    """The kubelet creates a missing subPath with the volume root's mode (inherits its group
    through setgid)."""
    if sub.exists():
        return
    sub.mkdir(parents=True)
    mode = root.stat().st_mode & 0o7777
    sub.chmod(mode)
    shutil.chown(sub, group=root.stat().st_gid)


def cleanup_session() -> None:
    """Remove every container this test session started (a failed test leaves none behind)."""
    ids = docker("ps", "--all", "--quiet", "--filter", f"label={SESSION_LABEL}",
                 check=False).stdout.split()
    if ids:
        docker("rm", "--force", *ids, check=False, timeout=120)


def remove_all(pods: list[Pod]) -> None:
    """Delete pods at once, as the API server would (each gets its own grace period)."""
    threads = [threading.Thread(target=p.remove, daemon=True) for p in pods]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
