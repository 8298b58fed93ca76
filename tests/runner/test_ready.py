"""wait_for_target and `python -m loadgate.runner.ready` against real sockets on loopback."""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from support.servers import free_port

from loadgate.runner import ready
from loadgate.runner.ready import TargetNotReady, wait_for_target


@contextlib.contextmanager
def health_server(not_ready_for_s: float,
                  failed: bytes | None = None) -> Iterator[tuple[str, list[int]]]:
    """/health answers 503 not_ready for `not_ready_for_s`, then 200 (or 503 with the body
    `failed` throughout); yields (url, statuses)."""
    started = time.monotonic()
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            ok = time.monotonic() - started >= not_ready_for_s
            body = b'{"status": "ok"}' if ok else b'{"status": "not_ready"}'
            if failed is not None:
                ok, body = False, failed
            statuses.append(200 if ok else 503)
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health", statuses
    finally:
        server.shutdown()
        server.server_close()


def test_not_ready_then_ready_is_waited_out(monkeypatch):
    monkeypatch.setattr(ready, "REPORT_EVERY_S", 0.5)
    logged: list[str] = []
    with health_server(not_ready_for_s=1.5) as (url, statuses):
        wait_for_target(url, 20, interval=0.2, log=logged.append)
    assert statuses[0] == 503 and statuses[-1] == 200
    assert statuses.count(200) == 1, "returns on the first 200"
    waiting = [m for m in logged if m.startswith("waiting for")]
    assert waiting and all("not_ready" in m for m in waiting), logged


def test_refused_connection_times_out_with_a_sentence(monkeypatch):
    monkeypatch.setattr(ready, "REPORT_EVERY_S", 0.5)
    url = f"http://127.0.0.1:{free_port()}/health"
    logged: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(TargetNotReady) as e:
        wait_for_target(url, 1.5, interval=0.2, log=logged.append)
    assert 1.4 <= time.monotonic() - t0 < 15
    msg = str(e.value)
    assert msg.startswith(f"The target {url} was not ready after 1.5s")
    assert "connection refused" in msg
    assert any("connection refused" in m for m in logged)


def test_still_not_ready_at_the_deadline_names_the_last_answer():
    with health_server(not_ready_for_s=60) as (url, _), pytest.raises(TargetNotReady) as e:
        wait_for_target(url, 1.0, interval=0.2, log=lambda m: None)
    assert "HTTP 503 not_ready" in str(e.value)


def test_a_target_that_says_it_failed_ends_the_wait_at_once():
    """loadgate's server answers {"status": "failed"} when its model cannot load."""
    body = b'{"status": "failed", "detail": "OSError: no model at /models/x"}'
    t0 = time.monotonic()
    with health_server(0, failed=body) as (url, statuses), \
            pytest.raises(TargetNotReady) as e:
        wait_for_target(url, 300, interval=0.2, log=lambda m: None)
    assert time.monotonic() - t0 < 10 and len(statuses) == 1
    assert str(e.value) == (f"The target {url} will not become ready: its health check "
                            "answers HTTP 503 failed: OSError: no model at /models/x.")


def test_give_up_ends_the_wait_early():
    url = f"http://127.0.0.1:{free_port()}/health"
    t0 = time.monotonic()
    with pytest.raises(TargetNotReady, match="server exited with code 1"):
        wait_for_target(url, 60, interval=0.1, log=lambda m: None,
                        give_up=lambda: "the server exited with code 1")
    assert time.monotonic() - t0 < 10


def _module(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loadgate.runner.ready", *argv],
                          capture_output=True, text=True, timeout=60)


def test_module_exit_codes_for_the_init_container():
    url = f"http://127.0.0.1:{free_port()}/health"
    r = _module(url, "--timeout", "1", "--interval", "0.2")
    assert r.returncode == 2
    assert "was not ready after 1s" in r.stderr
    with health_server(not_ready_for_s=0.5) as (ok_url, _):
        r = _module(ok_url, "--timeout", "30", "--interval", "0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"target ready: {ok_url}" in r.stdout
