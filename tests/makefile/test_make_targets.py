"""The Makefile's Kubernetes targets: every one parses (`make -n`, then `bash -n` on what it
would run), is documented, and fails with a clear message when kind or Docker is missing."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "Makefile"
K8S_TARGETS = ["tools", "kind-check", "kind-up", "images", "kind-load", "deploy", "loadtest",
               "results", "e2e", "kind-down"]
# variables that keep `make -n` from touching anything real
DRY_VARS = ["NAME=ramp-up", "PROFILE=profiles/ramp-up.yaml", "E2E_PROFILE=profiles/smoke.yaml"]


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def k8s_section() -> str:
    text = MAKEFILE.read_text()
    return text[text.index("##@ Kubernetes (kind)"):text.index("##@ Help")]


@pytest.mark.parametrize("target", K8S_TARGETS)
def test_target_parses(target):
    # -n prints the commands without running them (recipes calling $(MAKE) recurse, also -n);
    # the tools stamp is taken as built so no download happens here
    prereqs = ["-B"] if target == "tools" else ["-o", "install", "-o", "tools"]
    proc = make("-n", *prereqs, target, *DRY_VARS)
    assert proc.returncode == 0, proc.stderr
    script = "\n".join(line for line in proc.stdout.splitlines()
                       if not line.startswith(("make[", "make:")))
    assert script.strip(), f"{target} would run nothing"
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                            timeout=30)
    assert syntax.returncode == 0, f"{target}: shell syntax error\n{syntax.stderr}\n{script}"


def test_every_target_has_help_text():
    proc = make("help")
    assert proc.returncode == 0
    for target in K8S_TARGETS:
        assert re.search(rf"^\s+(\x1b\[\d+m)?{re.escape(target)}\b.*\S", proc.stdout, re.M), target
    section = k8s_section()
    for target in K8S_TARGETS:
        assert re.search(rf"^{re.escape(target)}:.*## \S", section, re.M), f"{target} lacks ## help"


def test_variables_are_overridable():
    assignments = re.findall(r"^([A-Z_]+)\s*(\?=|:=|=)", k8s_section(), re.M)
    fixed = {name for name, op in assignments if op != "?="}
    derived = {"TOOLS_STAMP", "LT_NAME", "IMAGE_BUILD_ARGS", "MODEL_TORCH_ARG"}
    assert fixed <= derived, f"use ?= for {fixed - derived}"


def test_test_target_depends_on_tools():
    assert re.search(r"^test:.*\btools\b", MAKEFILE.read_text(), re.M)


def test_e2e_runs_the_whole_path_in_order():
    proc = make("-n", "-o", "install", "-o", "tools", "e2e", *DRY_VARS)
    out = proc.stdout
    steps = ["kind create cluster", "docker build", "kind load docker-image",
             "upgrade --install loadgate", "upgrade --install model-server",
             "create -f profiles/smoke.yaml", "loadgate wait", "cp "]
    positions = []
    for step in steps:
        assert step in out, f"e2e never runs {step!r}"
        positions.append(out.index(step))
    assert positions == sorted(positions)


def test_deploy_waits_and_targets_the_profiles_service_name():
    out = make("-n", "-o", "tools", "deploy").stdout
    assert out.count("--wait") == 2
    # release name model-server -> Service model-server, what profiles/*.yaml target
    assert re.search(r"upgrade --install model-server charts/model-server", out)
    assert "service.nodePort=30800" in out
    kind_cfg = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    roles = [n["role"] for n in kind_cfg["nodes"]]
    assert roles.count("control-plane") == 1 and roles.count("worker") >= 1
    mapping = kind_cfg["nodes"][0]["extraPortMappings"][0]
    assert mapping["containerPort"] == 30800 and mapping["listenAddress"] == "127.0.0.1"


def test_missing_kind_fails_with_a_clear_message(tmp_path):
    proc = make("-o", "tools", "kind-up", f"KIND={tmp_path}/no-kind")
    assert proc.returncode != 0
    assert "kind not found" in proc.stdout + proc.stderr
    assert "kind.sigs.k8s.io" in proc.stdout + proc.stderr


def test_missing_docker_fails_with_a_clear_message(tmp_path):
    fake_kind = tmp_path / "kind"
    fake_kind.write_text("#!/bin/sh\nexit 0\n")
    fake_kind.chmod(0o755)
    proc = make("-o", "tools", "kind-up", f"KIND={fake_kind}", f"DOCKER={tmp_path}/no-docker")
    assert proc.returncode != 0 and "Docker is not running" in proc.stdout + proc.stderr


def test_kind_down_without_kind_is_a_no_op(tmp_path):
    proc = make("kind-down", f"KIND={tmp_path}/no-kind")
    assert proc.returncode == 0 and "nothing to delete" in proc.stdout


def test_results_needs_a_name():
    proc = make("-o", "tools", "results", "NAME=")
    assert proc.returncode == 2 and "usage: make results NAME=" in proc.stdout + proc.stderr


def test_tools_are_installed_and_idempotent():
    """After `make tools` (a prerequisite of `make test`), the stamp makes it a no-op."""
    if not any((REPO / ".tools").glob(".installed-*")):
        pytest.fail("run `make tools` first (make test does)")
    assert make("-q", "tools").returncode == 0  # up to date: nothing would run
    helm = subprocess.run([str(REPO / ".tools/bin/helm"), "version", "--short"],
                          capture_output=True, text=True, timeout=30)
    assert helm.stdout.startswith("v3.18.")
    kubectl = subprocess.run([str(REPO / ".tools/bin/kubectl"), "version", "--client"],
                             capture_output=True, text=True, timeout=30)
    assert "v1.33." in kubectl.stdout


def test_deploy_uses_the_images_that_were_built_and_loaded():
    vars_ = ["IMAGE_TAG=v9", "LOADGATE_REPO=reg.local:5000/lg", "MODEL_REPO=reg.local:5000/ms"]
    built = make("-n", "images", *vars_).stdout
    loaded = make("-n", "-o", "tools", "kind-load", *vars_).stdout
    deployed = make("-n", "-o", "tools", "deploy", *vars_).stdout
    for image in ("reg.local:5000/lg:v9", "reg.local:5000/ms:v9"):
        assert f"-t {image}" in built and image in loaded
    assert "image.repository=reg.local:5000/lg" in deployed
    assert "image.repository=reg.local:5000/ms" in deployed
    assert deployed.count("image.tag=v9") == 2


def _fake(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("exists", [True, False])
def test_kind_up_is_idempotent(tmp_path, exists):
    """kind itself cannot run here: a stand-in records what `make kind-up` asks of it."""
    log = tmp_path / "kind.log"
    clusters = "echo other; echo loadgate" if exists else "echo other"
    kind = _fake(tmp_path, "kind", f'echo "$@" >> {log}\n'
                                   f'if [ "$1 $2" = "get clusters" ]; then {clusters}; fi\n')
    proc = make("-o", "tools", "kind-up", f"KIND={kind}", "DOCKER=true", "KUBECTL=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = log.read_text().splitlines()
    creates = [c for c in calls if c.startswith("create cluster")]
    if exists:
        assert creates == [] and "already exists" in proc.stdout
    else:
        assert creates == ["create cluster --name loadgate --config kind-config.yaml --wait 180s"]


def test_default_profiles_exist_and_name_their_loadtest():
    """e2e's profile and the loadtest example must exist; LT_NAME reads metadata.name."""
    text = MAKEFILE.read_text()
    e2e = re.search(r"^E2E_PROFILE \?= (\S+)", text, re.M).group(1)
    for profile in (e2e, "profiles/ramp-up.yaml"):
        doc = yaml.safe_load((REPO / profile).read_text())
        assert doc["kind"] == "LoadTest" and doc["metadata"]["name"]
    proc = make("-n", "-o", "install", "-o", "tools", "loadtest", "PROFILE=profiles/ramp-up.yaml")
    name_cmd = re.search(r"name=\$\((.+?)\) &&", proc.stdout).group(1)
    out = subprocess.run(["bash", "-c", name_cmd], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "ramp-up", out.stderr


def test_help_lists_every_variable_with_its_default():
    out = make("help").stdout
    section = out[out.rindex("Variables"):]
    declared = re.findall(r"^([A-Z0-9_]+) \?=", MAKEFILE.read_text(), re.M)
    assert len(declared) > 20
    for name in declared:
        assert re.search(rf"^\s+(\x1b\[\d+m)?{name}\b", section, re.M), name
    assert re.search(r"PROFILE\s+(\x1b\[0m)?\s*profiles/smoke\.yaml", section)
    assert re.search(r"RUN_ARGS\s+(\x1b\[0m)?\s*\(empty\)", section)


@pytest.mark.parametrize("root", [True, False])
def test_tools_without_node_or_unzip_installs_them_or_names_them(tmp_path, root):
    """Debian as root: apt-get installs nodejs, npm, unzip; otherwise one line naming what is
    missing. (Stand-ins for apt-get and id: nothing is installed by this test.)"""
    log = tmp_path / "apt.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake(bindir, "apt-get", f'echo "$@" >> {log}\n[ "$1" = update ] && exit 0\nexit 100\n')
    _fake(bindir, "id", f"echo {0 if root else 1000}\n")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = make("-B", "tools", "NPM=no-such-npm", "UNZIP=no-such-unzip", f"TOOLS={tmp_path}/t",
                env=env)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0
    if root:
        assert "installing npm(Node.js) unzip (nodejs npm unzip) with apt-get" in said
        installs = [c for c in log.read_text().splitlines() if "install" in c]
        assert installs and installs[0].split()[-3:] == ["nodejs", "npm", "unzip"]
        assert "could not install nodejs npm unzip" in said
    else:
        assert not log.exists()
        lines = [ln for ln in said.splitlines() if ln.startswith("make tools:")]
        assert lines == [ln for ln in lines if "missing npm(Node.js) unzip" in ln] and \
            len(lines) == 1, said
        assert "network access" in lines[0] and "apt-get install nodejs npm unzip" in lines[0]


def test_make_run_exits_2_whatever_the_verdict_and_the_readme_says_so(tmp_path):
    """make turns any failed recipe into its own exit 2: the README must not promise the
    verdict's code from make run (a stand-in loadgate that fails with 1, as on a Fail)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    _fake(venv / "bin", "loadgate", 'echo "verdict: Fail"; exit 1\n')
    (venv / ".installed").touch()  # newer than pyproject.toml: no install
    proc = make("run", f"VENV={venv}", "PORT=1")
    assert proc.returncode == 2 and "verdict: Fail" in proc.stdout
    assert "Error 1" in proc.stderr
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "`make run` cannot pass the exact code on: make exits 2 for any failed recipe" in readme
    assert "call `loadgate run`" in readme


def test_images_take_base_image_and_torch_index():
    """`make images` passes BASE_IMAGE and TORCH_INDEX_URL on (no registry: local stand-ins)."""
    plain = make("-n", "images").stdout
    assert "--build-arg" not in plain  # the Dockerfiles' defaults: the official image, CPU index
    out = make("-n", "images", "BASE_IMAGE=local/base:1", "TORCH_INDEX_URL=http://127.0.0.1:1/simple/",
               "DOCKER_BUILD_FLAGS=--network=host").stdout
    model, loadgate = [x for x in out.splitlines() if "docker build" in x]
    for line in (model, loadgate):
        assert "--network=host --build-arg BASE_IMAGE=local/base:1" in line
    assert "--build-arg TORCH_INDEX_URL=http://127.0.0.1:1/simple/" in model
    assert "TORCH_INDEX_URL" not in loadgate


def test_test_target_starts_the_docker_engine_first():
    assert re.search(r"^test: engine\b", MAKEFILE.read_text(), re.M)
    proc = make("-n", "engine")
    assert "scripts/docker-engine.sh" in proc.stdout
    syntax = subprocess.run(["bash", "-n", str(REPO / "scripts" / "docker-engine.sh")],
                            capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
