"""Locust's argv (after `locust`) for the master and the workers of one LoadTest.

The local runner and the Kubernetes Jobs both call these, so nothing here depends on this
machine: paths come in as arguments (the shape and the CPU listener default to the installed
package's copies; the operator passes the directory it mounts them in instead).

Choices:
- `--exit-code-on-error 0`: Locust exits 1 when any request failed, which looks exactly like a
  crash. Failed requests are the gate's business (thresholds -> Pass/Fail), so Locust exits 0
  after a complete run and any non-zero exit means Locust itself broke.
- `--only-summary`: no stats table every few seconds; the runner prints its own progress line.
- `-f locustfile,cpu_listener.py,latency_listener.py`: every Locust process records its own
  CPU (the gate's `Invalid` when the generator was the bottleneck) and every request's latency
  into mergeable histograms, whatever the locustfile.
- Stages/breakpoint/rate loads: the master adds `shape.py`, and `--run-time` = planned
  duration + margin. Locust ignores --run-time while a shape runs, so our shape enforces it as
  a safety cap. Rate loads add `rate_driver.py` to every process (the open-loop driver user).
"""

from __future__ import annotations

import math
from pathlib import Path

from loadgate.spec import format_duration
from loadgate.urls import base

DEFAULT_MASTER_PORT = 5557


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def run_time_cap_s(lt) -> float:
    """The --run-time passed for a shaped run: the plan plus room to stop users and spare."""
    return lt.load.duration_s + lt.load.stop_timeout_s + 30.0


def loadgen_files(lt, *, master: bool) -> list[Path]:
    """The package's Locust modules a process of this run loads next to the locustfile: the
    CPU and latency listeners, on the master of a shaped run the shape, and for rate loads the
    open-loop driver (the operator's ConfigMap carries the master's set)."""
    from loadgate.loadgen import (
        CPU_LISTENER_FILE,
        LATENCY_LISTENER_FILE,
        RATE_DRIVER_FILE,
        SHAPE_FILE,
    )

    files = [CPU_LISTENER_FILE, LATENCY_LISTENER_FILE]
    if master and lt.load.mode != "constant":
        files.append(SHAPE_FILE)
    if lt.load.open_loop:
        files.append(RATE_DRIVER_FILE)
    return files


def locust_files(lt, locustfile, loadgen_dir=None, *, master: bool) -> str:
    """-f: the locustfile and loadgen_files. `loadgen_dir` holds those files (default: this
    installed package; the operator passes the directory it mounts them in)."""
    files = [str(locustfile)] + [str(f) if loadgen_dir is None else f"{loadgen_dir}/{f.name}"
                                 for f in loadgen_files(lt, master=master)]
    return ",".join(files)


def master_args(lt, *, locustfile, csv_prefix, html, expect_workers: int,
                bind_port: int = DEFAULT_MASTER_PORT, bind_host: str | None = None,
                loadgen_dir=None) -> list[str]:
    """argv for the headless master: CSV with full history, HTML report, load from the spec.
    `bind_host` limits where it listens for workers (the local runner: 127.0.0.1)."""
    load = lt.load
    args = [
        "-f", locust_files(lt, locustfile, loadgen_dir, master=True),
        "--master", "--master-bind-port", str(bind_port),
    ]
    if bind_host is not None:
        args += ["--master-bind-host", bind_host]
    args += [
        "--headless",
        "--expect-workers", str(int(expect_workers)),
        "--expect-workers-max-wait", _seconds(lt.timeouts.workers_connect_s),
        "--host", base(lt.target.url),
        "--csv", str(csv_prefix), "--csv-full-history",
        "--html", str(html),
        "--stop-timeout", _seconds(load.stop_timeout_s) if load.stop_timeout_s > 0 else "0",
        "--exit-code-on-error", "0",
        "--only-summary",
    ]
    if load.mode == "constant":
        args += ["--users", str(load.users), "--spawn-rate", f"{load.spawn_rate:g}",
                 "--run-time", format_duration(load.run_time_s)]
    else:
        args += ["--run-time", format_duration(run_time_cap_s(lt))]
    return args


def worker_args(lt, *, locustfile, master_host: str, master_port: int = DEFAULT_MASTER_PORT,
                loadgen_dir=None) -> list[str]:
    """argv for one worker: the same locustfile (no shape: shapes run on the master only)."""
    return [
        "-f", locust_files(lt, locustfile, loadgen_dir, master=False),
        "--worker", "--master-host", master_host, "--master-port", str(master_port),
        "--host", base(lt.target.url),
        "--only-summary",
    ]
