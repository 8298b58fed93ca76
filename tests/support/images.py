"""Build the two images exactly from images/*/Dockerfile, keyed by the content they are built
from, so a machine builds each version once and a fresh machine always builds.

The key hashes the Dockerfile, every file of the build context .dockerignore lets through,
the base image's id and the build arguments; the tag is loadgate-test/<name>:<key>.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from support.base_image import cache_dir, machine_lock
from support.docker_engine import BUILD_ENV, DOCKER, DockerError, docker, image_exists, image_id

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"model-server": REPO / "images" / "model-server" / "Dockerfile",
               "loadgate": REPO / "images" / "loadgate" / "Dockerfile"}
REPOSITORY = "loadgate-test/{name}"


def context_files() -> list[Path]:
    """What `docker build .` sends, by the rules of this repository's .dockerignore
    (`*`, then `!path` exceptions, then exclusions of caches)."""
    rules = [x.strip() for x in (REPO / ".dockerignore").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert rules[0] == "*", "the context rules below assume .dockerignore starts with '*'"
    allowed = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
    excluded = [r for r in rules[1:] if not r.startswith("!")]
    out = []
    for top in allowed:
        base = REPO / top
        for p in sorted([base] if base.is_file() else base.rglob("*")):
            parts = p.relative_to(REPO).parts
            # the exclusions are all `**/NAME`: NAME matched against every path component
            if p.is_file() and not any(fnmatch.fnmatch(part, pat.removeprefix("**/"))
                                       for pat in excluded for part in parts):
                out.append(p)
    return out


def content_key(name: str, build_args: dict[str, str], base_id: str) -> str:
    h = hashlib.sha256()
    h.update(DOCKERFILES[name].read_bytes())
    for p in context_files():
        h.update(p.relative_to(REPO).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(repr(sorted(build_args.items())).encode() + base_id.encode())
    return h.hexdigest()[:12]


def ensure(name: str, *, base: str, key_args: dict[str, str] | None = None,
           build_args: dict[str, str] | None = None, log=print) -> str:
    """The image's tag, built now unless this content was built before on this machine.

    `key_args` name what the image's content depends on (e.g. the torch index's content);
    `build_args` are passed to the build but may vary run to run (e.g. the index's port);
    a callable value is called only when a build is needed.
    """
    key = content_key(name, key_args or {}, image_id(base))
    ref = f"{REPOSITORY.format(name=name)}:{key}"
    if image_exists(ref):
        log(f"image {ref}: already built from this content")
        return ref
    with machine_lock(f"image-{name}"), contextlib.ExitStack() as stack:
        if image_exists(ref):
            return ref
        args = {"BASE_IMAGE": base}
        for k, v in (build_args or {}).items():
            args[k] = stack.enter_context(v()) if callable(v) else v
        logfile = cache_dir() / f"build-{name}.log"
        cmd = ["build", "--network", "host", "--file", str(DOCKERFILES[name]), "--tag", ref,
               *[a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")], str(REPO)]
        t0 = time.monotonic()
        with open(logfile, "w") as fh:
            proc = subprocess.run([DOCKER, *cmd], stdout=fh, stderr=subprocess.STDOUT,
                                  env=BUILD_ENV, timeout=1500)
        if proc.returncode != 0:
            tail = "".join(logfile.read_text().splitlines(keepends=True)[-30:])
            raise DockerError(f"docker build of {name} failed (log {logfile}):\n{tail}")
        size = int(docker("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())
        log(f"image {ref}: built in {time.monotonic() - t0:.0f}s, {size / 1e6:.0f} MB")
        _prune_older(name, keep=ref)
        return ref


def _prune_older(name: str, keep: str, *, newest: int = 3, min_age_s: float = 3600) -> None:
    """Drop this machine's older builds of the image (their shared layers stay): all but the
    `newest` few, and only those built over `min_age_s` ago, so that test sessions of other
    checkouts running at the same time keep the images they just built."""
    repo = REPOSITORY.format(name=name)
    rows = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}", repo).stdout
    refs = [line.split("\t")[0] for line in rows.splitlines() if line.strip()]
    created = {}
    for ref in refs:
        out = docker("image", "inspect", "--format", "{{.Created}}", ref, check=False).stdout
        try:
            created[ref] = datetime.fromisoformat(out.strip()[:26].rstrip("Z")).replace(
                tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    by_age = sorted(created, key=created.get, reverse=True)
    old = [r for r in by_age[newest:] if r != keep and time.time() - created[r] > min_age_s]
    if old:
        docker("image", "rm", *old, check=False)


def loadgate_image(base: str, log=print) -> str:
    """The loadgate image (operator, Locust, gate) on `base`."""
    return ensure("loadgate", base=base, log=log)


def model_server_image(base: str, log=print) -> str:
    """The model-server image on `base`; its torch comes from the local index."""
    from support import torch_index

    index = torch_index.ensure(log=log)
    return ensure("model-server", base=base, key_args={"torch-index": index.name},
                  build_args={"TORCH_INDEX_URL": lambda: torch_index.serve(index)}, log=log)
