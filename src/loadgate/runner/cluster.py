"""Locust master + N worker processes on loopback: the same topology as the Kubernetes Jobs.

Locust is never SIGKILLed: a SIGKILL leaves truncated CSVs and no final Aggregated row. To
stop early we send SIGINT to the master, which stops the workers, writes its final CSVs and
the HTML report, and exits. Not SIGTERM: Locust 2.x installs its SIGTERM handler only after a
headless LoadTestShape run has finished, so a SIGTERM during a stages/breakpoint run kills the
master outright (exit -15, no final CSVs); and even in plain runs its SIGTERM path skips the
HTML report. SIGINT (KeyboardInterrupt) takes the clean path in both modes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loadgate.loadgen import command
from loadgate.runner.serve import die_with_parent, free_port

LOOPBACK = "127.0.0.1"  # master and workers talk over loopback only
WORKER_EXIT_GRACE_S = 15.0


class LocustCluster:
    def __init__(self, lt, *, locustfile: Path, out_dir: Path, workers: int, env: dict):
        self.lt, self.locustfile, self.out = lt, locustfile, out_dir
        self.n_workers, self.env = workers, env
        self.csv_prefix = out_dir / "locust"
        self.html = out_dir / "report.html"
        self.log_path = out_dir / "locust.log"
        self.master: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs: list = []

    def worker_log(self, i: int) -> Path:
        return self.out / f"locust-worker-{i}.log"

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        f = open(log, "wb")
        self._logs.append(f)
        # own session: a terminal Ctrl-C reaches only the runner, which stops Locust in order
        return subprocess.Popen([sys.executable, "-m", "locust", *argv], stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self.env, start_new_session=True,
                                preexec_fn=die_with_parent)

    def start(self) -> None:
        port = free_port()
        margs = command.master_args(self.lt, locustfile=self.locustfile,
                                    csv_prefix=str(self.csv_prefix), html=str(self.html),
                                    expect_workers=self.n_workers, bind_port=port,
                                    bind_host=LOOPBACK)
        self.master = self._spawn(margs, self.log_path)
        wargs = command.worker_args(self.lt, locustfile=self.locustfile,
                                    master_host=LOOPBACK, master_port=port)
        for i in range(self.n_workers):
            self.workers.append(self._spawn(wargs, self.worker_log(i)))

    def master_running(self) -> bool:
        return self.master is not None and self.master.poll() is None

    def dead_workers(self) -> list[int]:
        return [i for i, w in enumerate(self.workers) if w.poll() is not None]

    def stop(self) -> None:
        """SIGINT to the master (again if asked twice): it ends the run cleanly (see above)."""
        if self.master_running():
            self.master.send_signal(signal.SIGINT)

    def finish(self) -> list[str]:
        """After the master is gone: let workers leave on their own, else SIGTERM them.

        Returns sentences about anything left over."""
        problems = []
        deadline = time.monotonic() + WORKER_EXIT_GRACE_S
        for i, w in enumerate(self.workers):
            try:
                w.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.send_signal(signal.SIGTERM)
                try:
                    w.wait(timeout=WORKER_EXIT_GRACE_S)
                except subprocess.TimeoutExpired:
                    problems.append(f"Locust worker {i} (pid {w.pid}) did not exit after SIGTERM "
                                    "and is still running")
        if self.master_running():
            problems.append(f"the Locust master (pid {self.master.pid}) did not exit after "
                            "SIGINT and is still running")
        for f in self._logs:
            f.close()
        return problems

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        keep = [ln for ln in text.splitlines() if ln.strip()]
        return "\n".join(keep[-lines:])


def locust_env(runtime_file: Path) -> dict:
    """Every Locust process reads the run's LoadTest from `runtime_file` (LOADGATE_CONFIG)."""
    from loadgate.spec import CONFIG_ENV

    return {**os.environ, CONFIG_ENV: str(runtime_file), "PYTHONUNBUFFERED": "1"}
