"""Helpers for the chart tests: helm from .tools/bin (make tools), rendering, YAML parsing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
KUBE_VERSION = "1.33.0"  # the kubectl/kind generation the Makefile installs


def tool(name: str) -> str:
    """A binary from .tools/bin (installed by `make tools`), else PATH; fail with the fix if absent."""
    local = REPO / ".tools" / "bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} not found: run `make tools` (installs helm and kubectl into .tools/bin)")


def venv_tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} not found next to {sys.executable}: run `make install`")
    return str(path)


def run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)


def helm_template(chart: str, release: str, *, values: Path | None = None,
                  namespace: str = "loadgate", sets: list[str] = (), extra: list[str] = ()) -> str:
    args = [tool("helm"), "template", release, str(CHARTS / chart), "--namespace", namespace,
            "--kube-version", KUBE_VERSION, *extra]
    if values is not None:
        args += ["-f", str(values)]
    for s in sets:
        args += ["--set", s]
    proc = run(args)
    assert proc.returncode == 0, f"helm template {chart} failed:\n{proc.stderr}"
    return proc.stdout


def docs(rendered: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(rendered) if d]


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict], kind: str) -> dict:
    found = by_kind(objs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def scenarios(chart: str) -> list[Path | None]:
    """None (the chart's defaults) plus every ci/*-values.yaml."""
    return [None, *sorted((CHARTS / chart / "ci").glob("*-values.yaml"))]


def scenario_id(p: Path | None) -> str:
    return "defaults" if p is None else p.name
