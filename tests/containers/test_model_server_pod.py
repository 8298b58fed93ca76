"""The model-server pod of `helm template charts/model-server` in its real image: readiness,
real embeddings, metrics, the restricted security context, and SIGTERM with requests in flight."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request

import pytest
from support.docker_engine import docker

# the first test of a fresh machine also waits for the engine, the base image and the build
pytestmark = pytest.mark.timeout(1200)


def post(url: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def test_health_is_503_until_the_model_is_ready_then_200(model_server):
    pod = model_server.pod
    # the start recorded every change of /health's answer, polled from the first moment
    answers = [a for _, a in model_server.seen]
    assert answers[-1] == "200"
    assert "503" in answers, f"never saw not_ready while the model loaded: {model_server.seen}"
    assert answers.index("503") < answers.index("200")
    st = pod.status()
    assert st["phase"] == "Running" and st["containerStatuses"][0]["ready"] is True


def test_embed_answers_real_embeddings(model_server):
    model_server.pod  # noqa: B018 - started if need be
    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.",
             "Quarterly revenue grew by eight percent."]
    status, body = post(f"{model_server.url}/embed", {"texts": texts})
    assert status == 200 and body["count"] == 3 and body["dim"] == 384
    vecs = body["embeddings"]
    assert all(len(v) == 384 and all(math.isfinite(x) for x in v) for v in vecs)

    def cos(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True)) / (
            math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))

    # the real model: the two cat sentences are close, the finance one is not
    assert cos(vecs[0], vecs[1]) > 0.6 > cos(vecs[0], vecs[2]) + 0.2
    _, again = post(f"{model_server.url}/embed", {"texts": texts[:1]})
    assert max(abs(a - b) for a, b in zip(again["embeddings"][0], vecs[0], strict=True)) < 1e-4


def test_the_image_serves_its_baked_int8_export(model_server):
    """The chart's default backend (onnx-int8) runs the export made at image build
    (LOADGATE_ONNX_CACHE_DIR, read-only at run time): the start exports nothing."""
    logs = model_server.pod.logs("server")
    assert "(onnx-int8, " in logs and "/opt/loadgate/onnx/" in logs, logs
    assert "no ONNX export" not in logs and "exporting" not in logs, logs


def test_bad_input_is_a_4xx_in_the_container_too(model_server):
    model_server.pod  # noqa: B018
    req = urllib.request.Request(f"{model_server.url}/embed", data=b'{"texts": []}',
                                 headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 422 and json.loads(e.value.read())["error"] == "empty_texts"


def test_metrics_are_served(model_server):
    model_server.pod  # noqa: B018
    post(f"{model_server.url}/embed", {"texts": ["metrics please"]})
    with urllib.request.urlopen(f"{model_server.url}/metrics", timeout=30) as r:
        text = r.read().decode()
    assert "loadgate_ready 1.0" in text
    assert 'loadgate_requests_total{method="POST",route="/embed",status="200"}' in text
    assert "loadgate_model_info{" in text


def test_runs_as_10001_with_read_only_root_and_no_capabilities(model_server):
    pod = model_server.pod
    cid = pod.container("server").cid
    info = json.loads(docker("inspect", cid).stdout)[0]
    assert info["Config"]["User"] == "10001:10001"
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in info["HostConfig"]["SecurityOpt"]
    probe = docker("exec", cid, "python", "-c",
                   "import os; print(os.getuid(), os.getgid(), os.getgroups())\n"
                   "try:\n open('/app/x', 'w')\nexcept OSError as e:\n print(e.strerror)\n"
                   "open('/tmp/ok', 'w').write('tmp is writable')", timeout=60).stdout
    assert probe.splitlines() == ["10001 10001 [10001]", "Read-only file system"]


def test_sigterm_answers_every_request_in_flight_then_exits_0(model_server):
    pod = model_server.take()  # this test ends the pod; a later user gets a new one
    url = f"{model_server.url}/embed"
    batch = {"texts": [f"sentence number {i} about load testing model servers" for i in range(32)]}
    results: list[object] = []
    started = threading.Barrier(13)

    def client() -> None:
        started.wait()
        try:
            results.append(post(url, batch, timeout=120)[0])
        except Exception as e:  # noqa: BLE001 - recorded, asserted below
            results.append(e)

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    started.wait()

    def in_flight() -> float:
        with urllib.request.urlopen(f"{model_server.url}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('loadgate_requests_in_flight{route="/embed"}'):
                    return float(line.split()[-1])
        return 0.0

    deadline = time.monotonic() + 20
    while in_flight() < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    busy = in_flight()
    pod.delete()  # the kubelet: SIGTERM, SIGKILL after terminationGracePeriodSeconds (30 s)
    for t in threads:
        t.join(150)
    st = pod.wait(timeout=60)
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert busy >= 4, "the requests were not in flight when SIGTERM came"
    assert results == [200] * 12, f"{results}\n{pod.describe()}"
    assert term["exitCode"] == 0, pod.describe()
    pod.remove()
