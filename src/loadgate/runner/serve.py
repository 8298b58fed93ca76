"""`loadgate run --serve`: the local model server as a child process for the length of a run."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def die_with_parent() -> None:
    """preexec_fn: SIGTERM this child if the runner itself dies (even by SIGKILL), so no
    server or Locust process outlives it. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it), for a child process to bind."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServeError(Exception):
    """The local server cannot be started; str() says why and what to do."""


def host_port(url: str | None) -> tuple[str, int]:
    """Where --serve listens: the --target's host and port, else 127.0.0.1:8000."""
    if not url:
        return DEFAULT_HOST, DEFAULT_PORT
    parts = urlsplit(url)
    host = parts.hostname or DEFAULT_HOST
    if host not in LOOPBACK:
        raise ServeError(f"--serve starts the model server on this machine, but the target {url} "
                         "is not a loopback address; use --target http://127.0.0.1:PORT")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ServeError(f"the target {url} has an invalid port") from None
    return ("127.0.0.1" if host == "localhost" else host), port


def check_port_free(host: str, port: int, advice: str = "") -> None:
    """Fail with a clear sentence (and `advice`) when something already listens on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # like uvicorn: connections of a previous run in TIME_WAIT do not make the port taken
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is already taken by another "
                                 f"process{advice}") from None
            raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


class LocalServer:
    """`python -m uvicorn loadgate.server.app:app` on host:port, output to `log_path`;
    `env` adds server settings (LOADGATE_*) to this process's environment."""

    def __init__(self, host: str, port: int, log_path: Path, env: dict[str, str] | None = None):
        self.host, self.port, self.log_path = host, port, log_path
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        check_port_free(self.host, self.port,
                        ", so --serve cannot start the model server there; stop that process, "
                        f"or pass --target http://{self.host}:<free port>, or drop --serve to "
                        "test what is already listening")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               **self.extra_env}
        self._log = open(self.log_path, "ab")
        # own session: a Ctrl-C in the terminal reaches the runner only, which stops us in order
        self.proc = subprocess.Popen(
            # info: the log says when the model was ready, on which backend, with what
            # batching; no access log (one line per request of the load test)
            [sys.executable, "-m", "uvicorn", "loadgate.server.app:app", "--host", self.host,
             "--port", str(self.port), "--workers", "1", "--log-level", "info",
             "--no-access-log"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=die_with_parent)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> str | None:
        """None while running; else a sentence for the ready-wait to give up with."""
        if self.proc is None or self.proc.poll() is None:
            return None
        last = self.last_log_line()
        said = f" ({last})" if last else ""
        return (f"the local model server exited with code {self.proc.returncode} before it was "
                f"ready{said}; see {self.log_path}")

    def last_log_line(self) -> str:
        """The server's last words (the log's last non-empty line), for a one-line reason."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return next((ln.strip() for ln in reversed(lines) if ln.strip()), "")[:300]

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (the server finishes in-flight requests), wait; kill only if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.proc = None
