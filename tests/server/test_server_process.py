"""The server as users run it: a real uvicorn (or `loadgate serve`) process on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.servers import free_port, run_model_server, wait_ok

REPO = Path(__file__).resolve().parents[2]

TEXTS16 = [f"sentence number {i} about queues, latency and model servers" for i in range(16)]


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def post_embed(base: str, texts: list[str], timeout: float = 60) -> tuple[int, dict, dict]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/embed", body=json.dumps({"texts": texts}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read())
    finally:
        conn.close()


def metric(text: str, name: str, labels: str = "") -> float:
    pat = "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)$"
    m = re.search(pat, text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """A server polled from the moment its port opens: what it said until it became ready."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    # each 16-text request is its own model call: the shutdown test needs work that lasts
    env = {"LOADGATE_MAX_BATCH_SIZE": "16"}
    with run_model_server(env=env, wait_ready=False, log_path=log) as (base, proc):
        seen: list[tuple[int, dict]] = []
        early_embed = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                status, _, body = get(base + "/health")
            except OSError:  # port not open yet
                time.sleep(0.05)
                continue
            seen.append((status, json.loads(body)))
            if status == 200:
                break
            if early_embed is None:
                early_embed = post_embed(base, ["too early"])
            time.sleep(0.05)
        yield {"base": base, "proc": proc, "seen": seen, "early_embed": early_embed, "log": log}


def test_health_is_503_until_the_model_is_warm_then_200(started):
    seen = started["seen"]
    assert seen[0] == (503, {"status": "not_ready"}), "port should open before the model loads"
    assert seen[-1] == (200, {"status": "ok"})
    first_ok = seen.index((200, {"status": "ok"}))
    assert all(s == (503, {"status": "not_ready"}) for s in seen[:first_ok])
    status, headers, body = started["early_embed"]
    assert status == 503 and body["error"] == "not_ready" and int(headers["retry-after"]) >= 1
    assert get(started["base"] + "/health/live")[0] == 200


def test_metrics_names(started):
    base = started["base"]
    assert post_embed(base, ["metrics please"])[0] == 200
    status, headers, body = get(base + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    for name in ("loadgate_request_duration_seconds_bucket", "loadgate_requests_total",
                 "loadgate_batch_size_texts_bucket", "loadgate_batch_size_requests_bucket",
                 "loadgate_inference_duration_seconds_bucket", "loadgate_queue_depth_texts",
                 "loadgate_queue_depth_requests", "loadgate_requests_in_flight",
                 "loadgate_model_load_seconds", "loadgate_ready",
                 "loadgate_rejected_requests_total"):
        assert f"\n{name}" in text, name
    assert 'route="/embed"' in text and 'route="/health"' in text
    assert metric(text, "loadgate_ready") == 1.0
    assert metric(text, "loadgate_model_load_seconds") > 0
    assert metric(text, "loadgate_rejected_requests_total", 'reason="not_ready"') >= 1


def test_sigterm_drains_in_flight_requests_and_exits_0(started):
    base, proc = started["base"], started["proc"]
    done0 = metric(get(base + "/metrics")[2].decode(), "loadgate_requests_total",
                   'method="POST",route="/embed",status="200"')
    results: list = [None] * 20

    def call(i):
        try:
            results[i] = post_embed(base, TEXTS16)
        except Exception as e:  # recorded and asserted on below
            results[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    # SIGTERM only once every request has reached the server and most are still running
    deadline = time.monotonic() + 60
    while True:
        text = get(base + "/metrics")[2].decode()
        in_flight = metric(text, "loadgate_requests_in_flight", 'route="/embed"')
        done = metric(text, "loadgate_requests_total",
                      'method="POST",route="/embed",status="200"') - done0
        if in_flight + done >= 20:
            break
        assert time.monotonic() < deadline, "requests never reached the server"
        time.sleep(0.01)
    assert in_flight >= 5, f"too few requests in flight ({in_flight}) to test draining"
    proc.terminate()  # SIGTERM
    for t in threads:
        t.join(90)
    assert proc.wait(60) == 0, started["log"].read_text()
    for r in results:
        assert not isinstance(r, Exception), r
        status, _, body = r
        assert status == 200 and body["count"] == 16, body


def test_overload_is_503_with_retry_after_and_the_server_recovers():
    """`loadgate serve` with a 16-text queue; 40 concurrent 16-text requests overflow it."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LOADGATE_MAX_QUEUE": "16"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadgate.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--max-batch-size", "16", "--max-batch-wait-ms", "1", "--log-level",
         "warning"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ok(base + "/health", proc=proc)
        barrier = threading.Barrier(40)
        results: list = [None] * 40

        def call(i):
            barrier.wait()
            results[i] = post_embed(base, TEXTS16)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        statuses = [r[0] for r in results]
        assert set(statuses) <= {200, 503}, statuses
        assert 200 in statuses and 503 in statuses, statuses
        for status, headers, body in results:
            if status == 503:
                assert body["error"] == "overloaded" and int(headers["retry-after"]) >= 1
            else:
                assert body["count"] == 16
        assert get(base + "/health")[0] == 200
        assert post_embed(base, ["still alive"])[0] == 200
        text = get(base + "/metrics")[2].decode()
        assert metric(text, "loadgate_rejected_requests_total", 'reason="overloaded"') == \
            statuses.count(503)
        assert metric(text, "loadgate_queue_depth_texts") == 0
    finally:
        proc.terminate()
        code = proc.wait(60)
    assert code == 0, proc.stderr.read().decode()[-2000:]


def test_serve_rejects_bad_settings_clearly(tmp_path: Path):
    env = {**os.environ, "LOADGATE_MAX_QUEUE": "zero", "LOADGATE_RETRY_AFTER_S": "0"}
    r = subprocess.run([sys.executable, "-m", "loadgate.cli", "serve", "--port", "1"],
                       env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[0] == "loadgate serve: invalid settings:" and len(lines) == 3, r.stderr
    assert lines[1].startswith("max_queue (LOADGATE_MAX_QUEUE): ") and "'zero'" in lines[1]
    assert lines[2].startswith("retry_after_s (LOADGATE_RETRY_AFTER_S): ")
    assert "Traceback" not in r.stderr and "pydantic.dev" not in r.stderr
    # uvicorn loadgate.server.app:app with the same environment: the same lines, no traceback
    r = subprocess.run([sys.executable, "-m", "uvicorn", "loadgate.server.app:app", "--port",
                        "1"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[1:] == lines[1:]


def test_serve_listens_like_uvicorn_and_says_why_it_cannot():
    """`loadgate serve` = `uvicorn loadgate.server.app:app`: 127.0.0.1 unless told otherwise
    (the images and charts say 0.0.0.0), a port that is no port is refused, and a port in use
    is one line and exit 2 before the model starts loading."""
    import socket

    from loadgate.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    for path in ("images/model-server/Dockerfile", "charts/model-server/templates/deployment.yaml",
                 "examples/argo-rollouts/rollout.yaml"):
        assert '"--host", "0.0.0.0"' in (REPO / path).read_text(), path
    serve = [sys.executable, "-m", "loadgate.cli", "serve", "--port"]
    r = subprocess.run([*serve, "99999"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "argument --port: 99999 is not a port (1-65535)" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([*serve, str(port)], cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"loadgate serve: port {port} on 127.0.0.1 is already taken by "
                                "another process; stop it, or pass another --port")
    assert "startup" not in r.stdout + r.stderr  # never got as far as uvicorn
