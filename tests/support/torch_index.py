"""A PEP 503 package index on 127.0.0.1 holding CPU torch, for the model-server image build.

The images cannot reach PyTorch's CPU index from here; this machine's pip can resolve
`torch==2.13.0` (the CPU build) and its dependencies, so `pip download` them once per machine
(pinned by constraints.txt, like everything else) into a simple-index layout and serve it for
the build as TORCH_INDEX_URL (`docker build --network host` reaches 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import http.server
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from support.base_image import cache_dir, machine_lock

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints.txt"


def torch_version() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'"torch==([\w.]+)"', text).group(1)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project(filename: str) -> str:
    """The project name of a wheel or sdist file name."""
    if filename.endswith(".whl"):
        return _normalize(filename.split("-")[0])
    return _normalize(re.sub(r"-\d.*$", "", filename.rsplit(".tar", 1)[0].rsplit(".zip", 1)[0]))


def write_simple_index(root: Path) -> None:
    """root/files/* -> root/simple/<project>/index.html (PEP 503)."""
    projects: dict[str, list[Path]] = {}
    for f in sorted((root / "files").iterdir()):
        projects.setdefault(_project(f.name), []).append(f)
    simple = root / "simple"
    simple.mkdir(exist_ok=True)
    links = []
    for name, files in sorted(projects.items()):
        (simple / name).mkdir(exist_ok=True)
        rows = []
        for f in files:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            rows.append(f'<a href="../../files/{html.escape(f.name)}#sha256={digest}">'
                        f"{html.escape(f.name)}</a><br>")
        (simple / name / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "\n".join(rows) + "\n</body></html>\n")
        links.append(f'<a href="{name}/">{name}</a><br>')
    (simple / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")


def ensure(log=print) -> Path:
    """The index directory for this torch version and constraints (made once per machine)."""
    version = torch_version()
    key = hashlib.sha256(CONSTRAINTS.read_bytes() + version.encode()).hexdigest()[:12]
    root = cache_dir() / f"torch-index-{version}-{key}"
    if (root / "simple" / "index.html").exists():
        return root
    with machine_lock("torch-index"):
        if (root / "simple" / "index.html").exists():
            return root
        t0 = time.monotonic()
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "files").mkdir(parents=True)
        # this machine's pip and its configuration: it knows where the CPU build lives
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
             "-c", str(CONSTRAINTS), "-d", str(tmp / "files"), f"torch=={version}"],
            capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download torch=={version} failed:\n{proc.stderr[-2000:]}")
        write_simple_index(tmp)
        tmp.rename(root)
        size = sum(f.stat().st_size for f in (root / "files").iterdir())
        log(f"torch index {root}: {len(list((root / 'files').iterdir()))} files, "
            f"{size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
        return root


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _server(root: Path) -> http.server.ThreadingHTTPServer:
    """On a port derived from the index's name if free, else any free port: the URL is a
    build argument, and a different value would rebuild every layer after it."""
    handler = lambda *a, **kw: _Quiet(*a, directory=str(root), **kw)  # noqa: E731
    preferred = 20000 + int(hashlib.sha256(root.name.encode()).hexdigest(), 16) % 20000
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", preferred), handler)
    except OSError:
        return http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve `root` on 127.0.0.1; yields the simple index URL."""
    server = _server(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
