"""A stand-in for python:3.11-slim-bookworm, made on this machine (no registry to pull from).

`debootstrap --variant=minbase bookworm` with python3, python3-venv and ca-certificates, a
venv at /opt/venv first on PATH (so `python` and `pip` behave as in the official image), the
machine's CA bundle with pip pointed at it (pip in a container must trust what the machine
trusts), then `docker import`. Made once per machine: the tag carries a hash of this recipe
and of the CA bundle, so a changed recipe or bundle makes a new one and an existing one is
reused by every later run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from support.docker_engine import DOCKER, DockerError, docker, image_exists

SUITE = "bookworm"
MIRROR = os.environ.get("LOADGATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3", "python3-venv", "ca-certificates")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
VENV = "/opt/venv"
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CHANGES = (f"ENV PATH={PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]')
PIP_CONF = f"[global]\ncert = {CA_BUNDLE}\n"
REPOSITORY = "loadgate-test/base"


def cache_dir() -> Path:
    """Machine-wide cache of the container tests (base rootfs work dir, torch index, logs)."""
    default = ("/var/cache/loadgate-tests" if os.geteuid() == 0
               else str(Path.home() / ".cache" / "loadgate-tests"))
    path = Path(os.environ.get("LOADGATE_TEST_CACHE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """One builder at a time per machine (two test sessions must not debootstrap twice)."""
    with open(cache_dir() / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def tag() -> str:
    recipe = repr((SUITE, PACKAGES, VENV, CHANGES, PIP_CONF)).encode()
    ca = CA_BUNDLE.read_bytes() if CA_BUNDLE.exists() else b""
    return f"{REPOSITORY}:{SUITE}-{hashlib.sha256(recipe + ca).hexdigest()[:12]}"


def _run(cmd: list[str], log: Path, timeout: float) -> None:
    with open(log, "a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise DockerError(f"{cmd[0]} exited {proc.returncode} (log {log}):\n{tail}")


def _debootstrap_available(log: Path) -> None:
    if shutil.which("debootstrap"):
        return
    if os.geteuid() != 0:
        raise DockerError("debootstrap is missing and this user cannot install it")
    env_cmd = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
               "--no-install-recommends", "debootstrap"]
    try:
        _run(env_cmd, log, 300)
    except DockerError:
        _run(["apt-get", "update", "-q"], log, 300)
        _run(env_cmd, log, 300)


def ensure(log=print) -> str:
    """The stand-in's tag, made now if this machine has none yet."""
    ref = tag()
    if image_exists(ref):
        return ref
    with machine_lock("base-image"):
        if image_exists(ref):
            return ref
        t0 = time.monotonic()
        logfile = cache_dir() / "base-image.log"
        logfile.write_text("")
        _debootstrap_available(logfile)
        with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="rootfs-") as tmp:
            root = Path(tmp) / "rootfs"
            _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                  SUITE, str(root), MIRROR], logfile, 900)
            t_boot = time.monotonic() - t0
            _run(["chroot", str(root), "python3", "-m", "venv", VENV], logfile, 300)
            shutil.copyfile(CA_BUNDLE, root / CA_BUNDLE.relative_to("/"))
            (root / "etc" / "pip.conf").write_text(PIP_CONF)
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for p in (root / junk).glob("*"):
                    if p.is_file():
                        p.unlink()
            changes = [a for c in CHANGES for a in ("--change", c)]
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            with open(logfile, "a") as fh:
                imp = subprocess.run([DOCKER, "import", *changes, "-", ref], stdin=tar.stdout,
                                     stdout=fh, stderr=subprocess.STDOUT, timeout=600)
            tar.stdout.close()
            tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise DockerError(f"docker import of the rootfs failed (log {logfile})")
        size = docker("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip()
        log(f"base image {ref}: debootstrap {t_boot:.0f}s, in all "
            f"{time.monotonic() - t0:.0f}s, {int(size) / 1e6:.0f} MB")
        return ref
