"""A test server with a known capacity: one request at a time, fixed service time.

    python tests/support/known_capacity.py --port 8123 --service-ms 20   # capacity 50 req/s

or from a test: `with known_capacity.running(service_ms=20) as base_url: ...`
(`from support import known_capacity`).

Every request (any path) queues behind the previous one and is served for `--service-ms`, so
throughput can never exceed 1000 / service_ms requests per second, however many clients
there are; beyond that, latency grows with the queue. `POST /embed` answers a body shaped
like the model server's (384 zeros per text), `GET /health` answers `{"status": "ok"}`.
Plain asyncio (no framework) so its own overhead stays far below the service time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

DIM = 384


def _response(status: int, body: dict, keep_alive: bool) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + payload


def _answer(method: str, path: str, body: bytes) -> tuple[int, dict]:
    path = path.split("?", 1)[0]
    if method == "GET" and path in ("/health", "/health/live"):
        return 200, {"status": "ok"}
    if method == "POST" and path == "/embed":
        try:
            texts = json.loads(body or b"{}").get("texts")
        except (ValueError, AttributeError):
            return 400, {"detail": "body must be a JSON object"}
        if not isinstance(texts, list) or not texts:
            return 400, {"detail": "texts must be a non-empty list"}
        n = len(texts)
        return 200, {"embeddings": [[0.0] * DIM] * n, "count": n, "dim": DIM, "model": "x"}
    return 404, {"detail": f"no route {method} {path}"}


class DelayServer:
    """HTTP/1.1 keep-alive over asyncio; each request is answered at `answer_at(now, path)`
    (loop time). Subclasses say when."""

    def answer_at(self, now: float, path: str) -> float:
        raise NotImplementedError

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                parts = line.decode("latin-1").split()
                if len(parts) < 2:
                    return
                method, path = parts[0].upper(), parts[1]
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                keep_alive = headers.get("connection", "").lower() != "close"
                now = asyncio.get_running_loop().time()
                await asyncio.sleep(max(0.0, self.answer_at(now, path) - now))
                status, payload = _answer(method, path, body)
                writer.write(_response(status, payload, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


class KnownCapacityServer(DelayServer):
    def __init__(self, service_s: float):
        self.service_s = service_s
        # The single "worker": each request's service starts when the previous one ends, on a
        # virtual clock, so the capacity is exactly 1/service_s whatever the loop's overhead.
        self.busy_until = 0.0

    def answer_at(self, now: float, path: str) -> float:
        self.busy_until = max(now, self.busy_until) + self.service_s
        return self.busy_until


async def serve_app(app: DelayServer, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT."""
    server = await asyncio.start_server(app.handle, host, port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


async def serve(host: str, port: int, service_ms: float) -> None:
    await serve_app(KnownCapacityServer(service_ms / 1000.0), host, port)


@contextlib.contextmanager
def running(service_ms: float = 20.0) -> Iterator[str]:
    """Start this server in a subprocess on a free loopback port; yields its base URL."""
    with running_script(__file__, "--service-ms", str(service_ms)) as base:
        yield base


@contextlib.contextmanager
def running_script(script: str, *args: str) -> Iterator[str]:
    """A test server script (taking --port) in a subprocess on a free loopback port; yields
    its base URL once /health answers."""
    from support.servers import free_port, wait_ok  # the test process only, not the script

    port = free_port()
    proc = subprocess.Popen([sys.executable, script, "--port", str(port), *args])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ok(base + "/health", proc=proc, timeout=20)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--service-ms", type=float, default=20.0)
    a = p.parse_args()
    asyncio.run(serve(a.host, a.port, a.service_ms))


if __name__ == "__main__":
    main()
