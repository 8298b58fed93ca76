"""Real server processes for tests, on the product's own LocalServer and wait_for_target."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from loadgate.runner.ready import wait_for_target
from loadgate.runner.serve import LocalServer, free_port

__all__ = ["free_port", "run_model_server", "wait_ok"]


def wait_ok(url: str, *, proc: subprocess.Popen | None = None,
               timeout: float = 120.0) -> None:
    """Poll `url` until it answers 200 (TargetNotReady after `timeout`); stop early if proc died."""
    def exited() -> str | None:
        if proc is None or proc.poll() is None:
            return None
        return f"the process exited with code {proc.returncode}"

    wait_for_target(url, timeout, interval=0.1, log=lambda _: None, give_up=exited)


@contextlib.contextmanager
def run_model_server(env: dict[str, str] | None = None, wait_ready: bool = True,
                     log_path: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """`uvicorn loadgate.server.app:app` on a free loopback port; yields (base_url, proc)."""
    with tempfile.TemporaryDirectory(prefix="model-server-") as tmp:
        server = LocalServer("127.0.0.1", free_port(), log_path or Path(tmp) / "server.log",
                             env=env)
        server.start()
        try:
            if wait_ready:
                wait_ok(server.url + "/health", proc=server.proc)
            yield server.url, server.proc
        finally:
            server.stop()
