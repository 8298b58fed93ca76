"""LoadTest manifests as dicts: the document around a spec, a parsed LoadTest's own, and a
LoadTest with some fields changed (command-line overrides), validated like a file."""

from __future__ import annotations

import copy

from loadgate.spec.durations import format_duration
from loadgate.spec.model import API_VERSION, KIND, LoadTest
from loadgate.spec.parser import SpecError, parse


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


def rate_override(lt: LoadTest, rps: float) -> dict[str, object]:
    """The changes (for `override`) that run `lt` at `rps` requests per second, open loop: a
    rate load gets that rps; a constant users load becomes a rate load of the same run time
    (and stopTimeout). Loads whose shape has no single rate raise SpecError."""
    load = lt.load
    if load.mode == "rate":
        return {"load.rate.rps": rps}
    if load.mode == "constant" and load.run_time_s is not None:
        new = {"rate": {"rps": rps, "duration": format_duration(load.run_time_s)}}
        raw = lt.raw_spec.get("load") or {}
        if "stopTimeout" in raw:
            new["stopTimeout"] = raw["stopTimeout"]
        return {"load": new}
    raise SpecError([("spec.load", f"a single rate ({rps:g} rps) can replace load.rate's rps "
                                   f"or a load.users run, not a {load.mode} load")])
