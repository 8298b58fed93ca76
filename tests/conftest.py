"""Shared fixtures: free ports and a real model server in a subprocess (real uvicorn, real model)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http_ok(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Poll url until it answers 200; fail early if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextlib.contextmanager
def run_model_server(env: dict[str, str] | None = None, wait_ready: bool = True,
                     log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `uvicorn loadgate.server.app:app` on a free loopback port; yields (base_url, proc)."""
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "loadgate.server.app:app",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"],
        env=full_env, stdout=out, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if wait_ready:
            wait_http_ok(base + "/health", proc=proc)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log_path:
            out.close()


@pytest.fixture(scope="session")
def model_server() -> Iterator[str]:
    """One real model server (default settings) shared by the whole session; yields its base URL."""
    with run_model_server() as (base, _):
        yield base
