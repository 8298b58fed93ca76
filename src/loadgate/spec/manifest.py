"""LoadTest manifests as dicts: the document around a spec, a parsed LoadTest's own, and a
LoadTest with some fields changed (command-line overrides), validated like a file."""

from __future__ import annotations

import copy

from loadgate.spec.model import API_VERSION, KIND, LoadTest
from loadgate.spec.parser import parse


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


def override(lt: LoadTest, changes: dict[str, object]) -> LoadTest:
    """`lt` with spec fields replaced, by dotted path under spec ("target.url", "workers",
    "load.users": 20), parsed again: a bad value is a SpecError naming its field, as in a file."""
    spec = copy.deepcopy(lt.raw_spec)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = spec
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[last] = value
    return parse(document(lt.name, spec, namespace=lt.namespace))
