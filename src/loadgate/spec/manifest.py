"""LoadTest manifests as dicts: the document around a spec, a parsed LoadTest's own, and a
LoadTest with some fields changed (command-line overrides) or its plan cut short, validated
like a file."""

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


def capped(lt: LoadTest, seconds: float) -> LoadTest:
    """`lt` with its load plan cut at `seconds` (`--run-time` on a shaped load): a users or
    rate load runs that long; stages end at that point (the stage crossing it is shortened); a
    breakpoint keeps the steps that fit (at least one, shortened if one step is longer)."""
    load = lt.load
    if load.mode == "constant":
        return override(lt, {"load.runTime": format_duration(seconds)})
    if load.mode == "rate":
        return override(lt, {"load.rate.duration": format_duration(seconds)})
    if load.mode in ("stages", "rateStages"):
        field, parsed = (("stages", load.stages) if load.mode == "stages"
                         else ("rateStages", load.rate_stages))
        raw, kept, elapsed = lt.raw_spec["load"][field], [], 0.0
        for stage, written in zip(parsed, raw, strict=True):
            if elapsed >= seconds:
                break
            cut = min(stage.duration_s, seconds - elapsed)
            kept.append({**written, "duration": format_duration(cut)}
                        if cut < stage.duration_s else written)
            elapsed += cut
        return override(lt, {f"load.{field}": kept})
    # a capacity search by rate or by users: the same steps, capped by their top level
    if load.mode == "rateBreakpoint":
        bp, top, at_step = load.rate_breakpoint, "load.breakpoint.maxRps", \
            load.rate_breakpoint.rps_at_step
    else:
        bp, top, at_step = load.breakpoint, "load.breakpoint.maxUsers", \
            load.breakpoint.users_at_step
    if seconds < bp.step_duration_s:   # one shortened step at the start level
        return override(lt, {"load.breakpoint.stepDuration": format_duration(seconds),
                             top: at_step(0)})
    steps = min(bp.steps, int(seconds // bp.step_duration_s))
    return override(lt, {top: at_step(steps - 1)})
