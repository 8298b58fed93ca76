"""The LoadTest CRD (the chart's copy, the single source of truth) as JSON Schema validators."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "loadgate" / "crds" / "loadtests.loadgate.dev.yaml"


def crd() -> dict:
    return yaml.safe_load(CRD_PATH.read_text())


def version(name: str = "v1alpha1") -> dict:
    return next(v for v in crd()["spec"]["versions"] if v["name"] == name)


def openapi_to_jsonschema(node):
    """OpenAPI v3 (Kubernetes flavour) -> draft-4 JSON Schema: nullable, drop x-kubernetes-*."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items()
           if not k.startswith("x-kubernetes-") and k not in ("nullable", "format")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("type") == "object" and "properties" in node and \
            not node.get("x-kubernetes-preserve-unknown-fields") and \
            "additionalProperties" not in node:
        out["additionalProperties"] = False  # structural schemas prune unknown fields
    return out


def validator(part: str) -> jsonschema.Draft4Validator:
    """A validator for one top-level part of the resource ("spec" or "status")."""
    schema = version()["schema"]["openAPIV3Schema"]["properties"][part]
    return jsonschema.Draft4Validator(openapi_to_jsonschema(schema))


def validate_loadtest(doc: dict) -> None:
    """Raise if doc is not a LoadTest the API server and loadgate would both accept."""
    from loadgate.spec import API_VERSION, KIND, parse

    assert doc["apiVersion"] == API_VERSION and doc["kind"] == KIND
    parse(doc)  # raises SpecError listing every problem
    validator("spec").validate(doc["spec"])
