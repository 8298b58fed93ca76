"""Helpers of the container tests: the figures report, ports, chart rendering, and the
model-server pod rendered from its chart (shared by the scenarios)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from loadgate.runner.serve import free_port
from support import podrunner
from support.charts import one

REPORT: list[str] = []


def report(line: str) -> None:
    REPORT.append(line)
    print(line, flush=True)


def wait_port_free(port: int, timeout: float = 60) -> None:
    """A fixed port (Locust's 5557) on the host network: wait for an earlier user to let go."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(1)


def split_ref(ref: str) -> tuple[str, str]:
    repo, _, tag = ref.rpartition(":")
    return repo, tag


def render(chart: str, release: str, namespace: str, sets: list[str],
           set_strings: list[str] = ()) -> list[dict]:
    """`helm template` of a chart, as documents."""
    from support.charts import docs, helm_template
    extra = [a for s in set_strings for a in ("--set-string", s)]
    return docs(helm_template(chart, release, namespace=namespace, sets=sets, extra=extra))


class ModelServer:
    """The model-server pod of `helm template charts/model-server`, run as rendered.

    Its Service name `model-server` maps to 127.0.0.1; the port is a free one (service.port),
    since the host network is shared. `pod` starts on first use, and again after a test
    stopped it (the SIGTERM test), so tests may run in any order.
    """

    def __init__(self, image: str, workdir: Path) -> None:
        self.image, self.workdir = image, workdir
        self.port = 0
        self._pod: podrunner.Pod | None = None
        self.service: dict = {}
        self.seen: list[tuple[float, str]] = []
        self.ready_s = 0.0

    def rendered(self, port: int) -> tuple[dict, dict]:
        repo, tag = split_ref(self.image)
        objs = render("model-server", "model-server", "lg",
                      [f"image.repository={repo}", f"image.tag={tag}",
                       f"service.port={port}"])
        return one(objs, "Deployment"), one(objs, "Service")

    def start(self) -> tuple[podrunner.Pod, list[tuple[float, str]]]:
        """Start a fresh pod; poll /health from the first moment: [(seconds, answer)]."""
        import urllib.error
        import urllib.request
        self.port = free_port()
        deployment, self.service = self.rendered(self.port)
        cluster = podrunner.Cluster(namespace="lg", workdir=self.workdir,
                                    services={"model-server": self.service["spec"]["ports"]})
        t0 = time.monotonic()
        pod = podrunner.Pod("model-server", deployment["spec"]["template"]["spec"],
                            cluster).start()
        seen: list[tuple[float, str]] = []
        deadline = t0 + 300
        while time.monotonic() < deadline and pod.phase not in ("Succeeded", "Failed"):
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    answer = str(r.status)
            except urllib.error.HTTPError as e:
                answer = str(e.code)
            except (urllib.error.URLError, OSError):
                answer = "refused"
            if not seen or seen[-1][1] != answer:
                seen.append((time.monotonic() - t0, answer))
            if answer == "200":
                break
            time.sleep(0.1)
        assert seen and seen[-1][1] == "200", f"/health never 200: {seen}\n{pod.describe()}"
        pod.wait_ready(timeout=60)  # the chart's readiness probe agrees
        self.ready_s = time.monotonic() - t0
        return pod, seen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pod(self) -> podrunner.Pod:
        if self._pod is None or self._pod.deleted or self._pod.phase != "Running":
            self._pod, self.seen = self.start()
            report(f"model-server container ready in {self.ready_s:.1f}s "
                   f"(/health: {', '.join(f'{a} at {t:.1f}s' for t, a in self.seen)})")
        return self._pod

    def take(self) -> podrunner.Pod:
        """The running pod, handed over to a test that ends it (the next user gets a new one)."""
        pod = self.pod
        self._pod = None
        return pod

    def close(self) -> None:
        if self._pod is not None:
            self._pod.remove()
