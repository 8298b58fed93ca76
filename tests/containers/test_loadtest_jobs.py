"""A short LoadTest's Job chain from the operator's own `build_*` functions, every pod run as
rendered in the loadgate image against the model-server container: wait init -> master + 2
workers -> collector, each step read back into `.status` by the operator's own status code
(status.advance), exactly as its timer does with what the API server shows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from loadgate_operator import builders, status
from loadgate_operator.settings import OperatorSettings
from support import podrunner
from support.cluster_path import free_port, report, wait_port_free
from support.kubelet import job_status

from loadgate.spec import parse

pytestmark = pytest.mark.timeout(1200)

NS = "lg"


def loadtest(name: str, url: str, ready_timeout: str = "60s", **spec) -> object:
    doc = {"apiVersion": "loadgate.dev/v1alpha1", "kind": "LoadTest",
           "metadata": {"name": name, "namespace": NS},
           "spec": {"target": {"url": url, "readyTimeout": ready_timeout},
                    "load": {"users": 4, "spawnRate": 4, "runTime": "10s", "stopTimeout": "2s"},
                    "workers": 2,
                    "thresholds": {"p95Ms": 3000, "maxErrorRate": 0.05},
                    "timeouts": {"workersConnect": "60s", "deadline": "5m"}, **spec}}
    return parse(doc)


class Chain:
    """The operator's part, minus the API server: create the Jobs' pods, observe, advance."""

    def __init__(self, lt, image: str, workdir: Path, services: dict) -> None:
        self.lt = lt
        self.settings = OperatorSettings(runner_image=image)
        self.cluster = podrunner.Cluster(namespace=NS, workdir=workdir, services=dict(services))
        self.jobs: dict[str, tuple[dict, list[podrunner.Pod], str]] = {}
        self.status: dict = {}
        self.phases: list[str] = []

    def create(self, obj: dict) -> None:
        kind = obj["kind"]
        if kind == "ConfigMap":
            self.cluster.config_maps[obj["metadata"]["name"]] = obj["data"]
        elif kind == "Service":
            self.cluster.services[obj["metadata"]["name"]] = obj["spec"]["ports"]
        elif kind == "PersistentVolumeClaim":
            self.cluster.claim_dir(obj["metadata"]["name"])
        elif kind == "Job":
            n = obj["spec"]["parallelism"]
            pods = [podrunner.Pod(f"{obj['metadata']['name']}-{i}", obj["spec"]["template"]["spec"],
                                  self.cluster).start() for i in range(n)]
            self.jobs[obj["metadata"]["labels"]["app.kubernetes.io/component"]] = (
                obj, pods, status.iso(status.now_utc()))

    def observed(self) -> status.Observed:
        def job(component):
            if component not in self.jobs:
                return None, []
            obj, pods, started = self.jobs[component]
            return ({**obj, "status": job_status(obj, pods, started)},
                    [{"metadata": {"name": p.name}, "status": p.status()} for p in pods])

        (mj, mp), (wj, wp), (cj, cp) = job("master"), job("workers"), job("collector")
        return status.Observed(master_job=mj, master_pods=mp, worker_job=wj, worker_pods=wp,
                               collector_job=cj, collector_pods=cp)

    def apply(self, step: status.Step) -> None:
        self.status.update(step.patch)
        if step.phase and (not self.phases or self.phases[-1] != step.phase):
            self.phases.append(step.phase)

    def run(self, timeout: float = 240) -> dict:
        """Start the run and follow it to a terminal phase; the final status."""
        for child in builders.build_children(self.lt, self.settings):
            self.create(child)
        self.apply(status.started(self.status, status.now_utc(),
                                  builders.results_path(self.lt, self.settings)))
        deadline = time.monotonic() + timeout
        while self.status["phase"] not in status.TERMINAL:
            assert time.monotonic() < deadline, f"stuck in {self.status['phase']}\n{self.describe()}"
            step = status.advance(self.status, self.observed(), status.now_utc(),
                                  workers=self.lt.workers, deadline_s=self.lt.timeouts.deadline_s,
                                  workers_connect_s=self.lt.timeouts.workers_connect_s)
            if step is not None:
                # the operator makes the workers' Job once the master runs (they would give
                # up on a master that is not there yet), and the collector once the load ended
                if step.create_workers and "workers" not in self.jobs:
                    self.create(builders.build_worker_job(self.lt, self.settings))
                if step.create_collector and "collector" not in self.jobs:
                    self.create(builders.build_collector_job(self.lt, self.settings))
                self.apply(step)
            time.sleep(0.3)
        return self.status

    def pods(self) -> list[podrunner.Pod]:
        return [p for _, pods, _ in self.jobs.values() for p in pods]

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.pods())

    def close(self) -> None:
        podrunner.remove_all(self.pods())


@pytest.fixture(scope="module")
def passed_run(model_server, loadgate_image, tmp_path_factory):
    """The Pass run, shared: the Fail test re-collects its results with a stricter LoadTest."""
    model_server.pod  # noqa: B018 - the target is up first (the init step would wait anyway)
    wait_port_free(builders.MASTER_PORT)
    lt = loadtest("chain", f"http://model-server:{model_server.port}")
    chain = Chain(lt, loadgate_image, tmp_path_factory.mktemp("chain"),
                  {"model-server": model_server.service["spec"]["ports"]})
    t0 = time.monotonic()
    try:
        final = chain.run()
        report(f"Job chain (wait, master + 2 workers, collector; 10 s of load): "
               f"{time.monotonic() - t0:.0f}s to verdict {final.get('verdict')}")
        yield chain, final
    finally:
        chain.close()


def test_pass_with_summary(passed_run):
    chain, st = passed_run
    assert chain.phases == ["WaitingForTarget", "Running", "Collecting", "Succeeded"], \
        chain.describe()
    assert st["verdict"] == "Pass", f"{st.get('reason')}\n{chain.describe()}"
    s = st["summary"]
    assert s["requests"] > 10 and s["failures"] == 0 and s["rps"] > 0 and s["p95Ms"] > 0
    assert st["thresholds"] and all(r["passed"] for r in st["thresholds"])
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"TargetReady": "True", "WorkersConnected": "True",
                     "LoadCompleted": "True", "ThresholdsMet": "True"}
    # every pod ran as the runner uid and wrote where the status says the results are
    results = chain.cluster.claims["chain-results"] / "chain"
    assert st["resultsPath"] == "pvc/chain-results/chain"
    for f in ("locust_stats.csv", "locust_stats_history.csv", "report.html", "summary.json",
              "junit.xml", "timeline.png"):
        assert (results / f).is_file(), f"{f} missing: {sorted(p.name for p in results.iterdir())}"
        assert (results / f).stat().st_uid == 10001
    worker_logs = [p.logs("worker") for p in chain.pods() if p.name.startswith("chain-workers")]
    assert len(worker_logs) == 2


def test_impossible_threshold_fails(passed_run, loadgate_image, tmp_path):
    """The collector Job again, over the same results, for a LoadTest nobody can pass."""
    chain, _ = passed_run
    strict = loadtest("chain", chain.lt.target.url, thresholds={"p95Ms": 0.001})
    again = Chain(strict, loadgate_image, tmp_path, chain.cluster.services)
    again.cluster.claims = chain.cluster.claims  # the same results PVC
    again.cluster.config_maps["chain-config"] = builders.build_configmap(strict)["data"]
    again.create(builders.build_collector_job(strict, again.settings))
    try:
        st = {"phase": status.COLLECTING, "conditions": []}
        deadline = time.monotonic() + 120
        step = None
        while step is None:
            assert time.monotonic() < deadline, again.describe()
            step = status.advance(st, again.observed(), status.now_utc(), workers=2,
                                  deadline_s=300, workers_connect_s=60)
            time.sleep(0.3)
        assert step.phase == "Succeeded" and step.patch["verdict"] == "Fail", step.patch
        failed = [r for r in step.patch["thresholds"] if not r["passed"]]
        assert [r["metric"] for r in failed] == ["p95Ms"] and failed[0]["limit"] == 0.001
        assert step.patch["summary"]["requests"] > 10
    finally:
        again.close()


def test_target_never_ready_is_error_with_the_reason(loadgate_image, tmp_path):
    wait_port_free(builders.MASTER_PORT)
    port = free_port()  # nothing listens there
    lt = loadtest("never", f"http://model-server:{port}", ready_timeout="4s")
    chain = Chain(lt, loadgate_image, tmp_path, {"model-server": [{"port": port}]})
    try:
        st = chain.run(timeout=120)
        # the workers still wait for a master that never comes; deleting them (SIGTERM, as
        # the kubelet does) ends them at once, not after the 30 s grace period
        workers = [p for p in chain.pods() if p.name.startswith("never-workers")]
        t0 = time.monotonic()
        for p in workers:
            p.delete()
        ended = [p.wait(timeout=60) for p in workers]
        stop_s = time.monotonic() - t0
    finally:
        chain.close()
    codes = [s["containerStatuses"][0]["state"]["terminated"]["exitCode"] for s in ended]
    assert stop_s < 15 and 137 not in codes, (stop_s, codes)
    assert chain.phases == ["WaitingForTarget", "Failed"], chain.describe()
    assert st["verdict"] == "Error"
    assert "the target never became ready" in st["reason"]
    # the wait step's own words, not just an exit code
    assert f"http://model-server:{port}/health" in st["reason"], st["reason"]
    assert "not ready after 4s" in st["reason"] and "connection refused" in st["reason"]
    ready = next(c for c in st["conditions"] if c["type"] == "TargetReady")
    assert (ready["status"], ready["reason"]) == ("False", "TargetNotReady")
