"""The Docker engine the container tests run on: the `docker` CLI, and why it is not there.

`make test` runs scripts/docker-engine.sh first, which starts (and on Debian as root installs)
the engine. Tests ask `unavailable()`; with LOADGATE_REQUIRE_DOCKER=1 (.ci/run) a missing
engine fails them instead of skipping, so CI can never pass with the containers unrun.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

DOCKER = os.environ.get("DOCKER", "docker")
STATUS_FILE = Path(os.environ.get("LOADGATE_DOCKER_STATUS")
                   or Path(tempfile.gettempdir()) / "loadgate-docker-status")
# the legacy builder: BuildKit would fetch the `# syntax=` frontend image from a registry, and
# Debian's docker.io has no buildx; the images build the same either way
BUILD_ENV = {**os.environ, "DOCKER_BUILDKIT": "0"}


class DockerError(RuntimeError):
    pass


def docker(*args: str, timeout: float = 120, check: bool = True, env: dict | None = None,
           input: str | None = None) -> subprocess.CompletedProcess:
    """Run `docker ARGS`; raise DockerError with its stderr when it fails (check=True)."""
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, input=input)
    if check and proc.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:6])}... exited {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc


def unavailable() -> str | None:
    """None when the engine answers; else one sentence saying why not."""
    try:
        proc = docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"the docker CLI cannot be run ({e})"
    if proc.returncode == 0 and proc.stdout.strip():
        return None
    why = STATUS_FILE.read_text().strip() if STATUS_FILE.exists() else ""
    return why or f"docker info fails: {(proc.stderr or proc.stdout).strip()[:300]}"


def required() -> bool:
    return os.environ.get("LOADGATE_REQUIRE_DOCKER", "") not in ("", "0", "false")


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False, timeout=30).returncode == 0


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref, timeout=30).stdout.strip()
