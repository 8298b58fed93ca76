"""LoadTest manifests as dicts: the document around a spec, and a parsed LoadTest's own."""

from __future__ import annotations

import copy

from loadgate.spec.model import API_VERSION, KIND, LoadTest


def document(name: str, spec: dict, *, namespace: str | None = None) -> dict:
    """A LoadTest manifest (apiVersion/kind/metadata/spec) around a spec mapping."""
    metadata = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata,
            "spec": copy.deepcopy(spec)}


def manifest(lt: LoadTest) -> dict:
    """The manifest that parses back into `lt` (its spec exactly as written)."""
    return document(lt.name, lt.raw_spec, namespace=lt.namespace)
