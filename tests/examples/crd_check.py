"""Check LoadTest manifests against the CRD's own OpenAPI schema and the loadgate.spec parser."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "charts" / "loadgate" / "crds" / "loadtests.loadgate.dev.yaml"


def crd_schema() -> dict:
    if not CRD.exists():
        pytest.skip(f"{CRD.relative_to(REPO)} not there yet (written by the operator work)")
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return version["schema"]["openAPIV3Schema"]


def validate_loadtest(doc: dict) -> None:
    """Raise if doc is not a LoadTest the API server and loadgate would both accept."""
    assert doc["apiVersion"] == "loadgate.dev/v1alpha1" and doc["kind"] == "LoadTest"
    from loadgate.spec import parse

    parse(doc)  # raises SpecError listing every problem
    # OpenAPI v3 as Kubernetes uses it is closest to draft 4 (boolean exclusiveMinimum)
    jsonschema.Draft4Validator(crd_schema()).validate({"spec": doc["spec"]})
