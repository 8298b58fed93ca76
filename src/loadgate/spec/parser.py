"""The one LoadTest validator: a manifest dict -> `LoadTest`, or `SpecError` listing every problem.

Rules mirror the CRD schema (charts/loadgate/crds/loadtests.loadgate.dev.yaml) and stay simple:
types, ranges, unknown keys, and exactly one load mode. Errors are collected, not raised one by
one, so a user fixes a manifest in one go.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

from loadgate.spec.durations import DurationError, format_duration, parse_duration
from loadgate.spec.model import (
    API_VERSION,
    ARRIVALS,
    DEADLINE_MARGIN_S,
    DEFAULT_MAX_IN_FLIGHT,
    KIND,
    THRESHOLD_KEYS,
    Baseline,
    Breakpoint,
    Load,
    LoadTest,
    LocustfileRef,
    Rate,
    RateBreakpoint,
    RateStage,
    Scenario,
    Stage,
    Target,
    Thresholds,
    Timeouts,
    minimum_deadline_s,
)

MAX_USERS = 100_000
MAX_RPS = 100_000.0
MAX_IN_FLIGHT = 100_000
# a stage's name becomes part of a threshold row's name: stages.<name>.p95Ms
_STAGE_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?$")
MAX_WORKERS = 100
MAX_TEXTS_PER_REQUEST = 64  # the model server's default max_texts_per_request
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# Kubernetes object names: the LoadTest's name also names its results directory and Jobs.
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class SpecError(ValueError):
    """Every problem of a LoadTest, each as (field path, message)."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = list(errors)
        super().__init__("\n".join(f"{path}: {msg}" if path else msg for path, msg in errors))


_MISSING = object()


class _Reader:
    """Typed field access that records errors with their path instead of raising."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def error(self, path: str, msg: str) -> None:
        self.errors.append((path, msg))

    def mapping(self, value, path: str, allowed: set[str] | None = None) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {_kind(value)}")
            return None
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.error(f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return value

    def _field(self, d: dict, key: str, path: str, default) -> tuple[str, bool, object]:
        """(field path, present, value): a missing key is an error unless it has a default."""
        where = f"{path}.{key}"
        if key in d:
            return where, True, d[key]
        if default is _MISSING:
            self.error(where, "is required")
            return where, False, None
        return where, False, default

    def integer(self, d: dict, key: str, path: str, *, minimum: int | None = None,
                maximum: int | None = None, default=_MISSING):
        where, present, v = self._field(d, key, path, default)
        if not present:
            return v
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                self.error(where, f"must be an integer, not {v!r}")
                return None
        return self._range(v, where, minimum, maximum)

    def number(self, d: dict, key: str, path: str, *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False, default=_MISSING):
        where, present, v = self._field(d, key, path, default)
        if not present:
            return v
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.error(where, f"must be a number, not {v!r}")
            return None
        if positive and v <= 0:
            self.error(where, f"must be > 0, not {v!r}")
            return None
        return self._range(float(v), where, minimum, maximum)

    def _range(self, v, where: str, minimum, maximum):
        if minimum is not None and v < minimum:
            self.error(where, f"must be >= {minimum}, not {v!r}")
            return None
        if maximum is not None and v > maximum:
            self.error(where, f"must be <= {maximum}, not {v!r}")
            return None
        return v

    def duration(self, d: dict, key: str, path: str, *, positive: bool = True, default=_MISSING):
        where, present, v = self._field(d, key, path, default)
        if not present:
            return v
        try:
            seconds = parse_duration(v)
        except DurationError as e:
            self.error(where, str(e))
            return None
        if positive and seconds <= 0:
            self.error(where, f"must be longer than 0s, not {v!r}")
            return None
        return seconds

    def string(self, d: dict, key: str, path: str, *, default=_MISSING, max_len: int = 253):
        where, present, v = self._field(d, key, path, default)
        if not present:
            return v
        if not isinstance(v, str) or not v.strip():
            self.error(where, f"must be a non-empty string, not {v!r}")
            return None
        if len(v) > max_len:
            self.error(where, f"must be at most {max_len} characters")
            return None
        return v


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__)


def parse(doc: dict) -> LoadTest:
    """Validate a whole LoadTest manifest (apiVersion/kind/metadata/spec[/status])."""
    r = _Reader()
    if r.mapping(doc, "(document)") is None:
        raise SpecError(r.errors)
    for key in doc:
        if key not in {"apiVersion", "kind", "metadata", "spec", "status"}:
            r.error(str(key), "unknown field (allowed: apiVersion, kind, metadata, spec, status)")
    for key, want in (("apiVersion", API_VERSION), ("kind", KIND)):
        if key not in doc:
            r.error(key, f"is required (must be {want!r})")
        elif doc[key] != want:
            r.error(key, f"must be {want!r}, not {doc[key]!r}")
    name, namespace = None, "default"
    meta = r.mapping(doc.get("metadata"), "metadata")
    if meta is not None:
        name = r.string(meta, "name", "metadata")
        if name is not None and not _DNS_NAME.match(name):
            r.error("metadata.name", f"must be a lowercase DNS name (a-z, 0-9, '-', '.'), "
                                     f"not {name!r}")
        namespace = r.string(meta, "namespace", "metadata", default="default", max_len=63)
        if namespace is not None and not _DNS_NAME.match(namespace):
            r.error("metadata.namespace", f"must be a lowercase DNS label, not {namespace!r}")
    spec = r.mapping(doc.get("spec"), "spec", {
        "target", "load", "workers", "scenario", "locustfile", "thresholds", "baseline",
        "timeouts", "ttlSecondsAfterFinished"})
    if spec is None:
        raise SpecError(r.errors)

    target = _target(r, spec)
    load = _load(r, spec)
    workers = r.integer(spec, "workers", "spec", minimum=1, maximum=MAX_WORKERS,
                        default=LoadTest.workers)
    _check_in_flight_share(r, spec, load, workers)
    scenario = _scenario(r, spec)
    locustfile = _locustfile(r, spec)
    thresholds = (_thresholds(r, spec["thresholds"], "spec.thresholds", nested=True)
                  if "thresholds" in spec else Thresholds())
    baseline = _baseline(r, spec)
    timeouts = _timeouts(r, spec, target, load)
    ttl = r.integer(spec, "ttlSecondsAfterFinished", "spec", minimum=0,
                    default=LoadTest.ttl_seconds_after_finished)
    if r.errors:
        raise SpecError(r.errors)
    return LoadTest(name=name, namespace=namespace, target=target, load=load, workers=workers,
                    scenario=scenario, locustfile=locustfile, thresholds=thresholds,
                    baseline=baseline, timeouts=timeouts, ttl_seconds_after_finished=ttl,
                    raw_spec=copy.deepcopy(spec))


def _target(r: _Reader, spec: dict) -> Target | None:
    if "target" not in spec:
        r.error("spec.target", "is required (at least target.url)")
        return None
    t = r.mapping(spec["target"], "spec.target", {"url", "healthPath", "readyTimeout"})
    if t is None:
        return None
    url = r.string(t, "url", "spec.target", max_len=2048)
    if url is not None and not _URL.match(url):
        r.error("spec.target.url", f"must be an http(s) URL like http://model-server:8000, not {url!r}")
    health = r.string(t, "healthPath", "spec.target", default=Target.health_path)
    if health is not None and not health.startswith("/"):
        r.error("spec.target.healthPath", f"must start with '/', not {health!r}")
    ready = r.duration(t, "readyTimeout", "spec.target", positive=False,
                       default=Target.ready_timeout_s)
    return Target(url=url, health_path=health, ready_timeout_s=ready)


LOAD_MODES = ("users", "stages", "breakpoint", "rate", "rateStages")


def _load(r: _Reader, spec: dict) -> Load | None:
    path = "spec.load"
    if "load" not in spec:
        r.error(path, "is required (users/spawnRate/runTime, stages, breakpoint, rate or "
                      "rateStages)")
        return None
    d = r.mapping(spec["load"], path,
                  {"users", "spawnRate", "runTime", "stages", "breakpoint", "stopTimeout",
                   "rate", "rateStages", "arrival", "maxInFlight"})
    if d is None:
        return None
    stop = r.duration(d, "stopTimeout", path, positive=False, default=Load.stop_timeout_s)
    modes = [k for k in LOAD_MODES if k in d]
    if len(modes) != 1:
        found = f"found {' and '.join(modes)}" if modes else "found none"
        r.error(path, f"set exactly one of users (with spawnRate, runTime), stages, "
                      f"breakpoint, rate or rateStages; {found}")
        return None
    if modes[0] != "users":
        for key in ("spawnRate", "runTime"):
            if key in d:
                r.error(f"{path}.{key}", f"goes with load.users only, not with load.{modes[0]}")
    if modes[0] != "rateStages":
        for key in ("arrival", "maxInFlight"):
            if key in d:
                inside = (f"; write it inside load.{modes[0]}"
                          if modes[0] in ("rate", "breakpoint") else "")
                r.error(f"{path}.{key}", f"goes with load.rateStages only{inside}")
    if modes[0] in ("rate", "rateStages") or (
            modes[0] == "breakpoint" and _is_rate_breakpoint(d["breakpoint"])):
        return _open_loop_load(r, d, modes[0], path, stop)
    if modes[0] == "users":
        users = r.integer(d, "users", path, minimum=1, maximum=MAX_USERS)
        rate = r.number(d, "spawnRate", path, positive=True, default=None)
        run_time = r.duration(d, "runTime", path)
        if rate is None and users is not None:
            rate = float(users)  # default: all users at once
        return Load(users=users, spawn_rate=rate, run_time_s=run_time, stop_timeout_s=stop)
    if modes[0] == "stages":
        return Load(stages=_stages(r, d["stages"], f"{path}.stages"), stop_timeout_s=stop)
    return Load(breakpoint=_breakpoint(r, d["breakpoint"], f"{path}.breakpoint"),
                stop_timeout_s=stop)


def _stages(r: _Reader, value, path: str) -> tuple[Stage, ...] | None:
    if not isinstance(value, list) or not value:
        r.error(path, f"must be a non-empty list of {{duration, users, spawnRate}}, not {value!r}")
        return None
    stages, previous = [], 0
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        s = r.mapping(item, where, {"duration", "users", "spawnRate", "name", "thresholds"})
        if s is None:
            continue
        duration = r.duration(s, "duration", where)
        users = r.integer(s, "users", where, minimum=0, maximum=MAX_USERS)
        rate = r.number(s, "spawnRate", where, positive=True, default=None)
        if users is not None:
            if rate is None:
                rate = float(max(1, abs(users - previous)))  # reach the stage in about 1 s
            previous = users
        name, thresholds = _stage_extras(r, s, where)
        stages.append(Stage(duration_s=duration, users=users, spawn_rate=rate, name=name,
                            thresholds=thresholds))
    if stages and all(s.users == 0 for s in stages if s.users is not None):
        r.error(path, "at least one stage needs users > 0")
    _unique_names(r, stages, path)
    return tuple(stages)


def _stage_extras(r: _Reader, s: dict, where: str) -> tuple[str | None, Thresholds | None]:
    """A stage's optional `name` and `thresholds` (rows stages.<name>.<key>)."""
    name = r.string(s, "name", where, default=None, max_len=63)
    if name is not None and not _STAGE_NAME.match(name):
        r.error(f"{where}.name", f"must be letters, digits, '-' or '_' (it names threshold "
                                 f"rows like stages.{{name}}.p95Ms), not {name!r}")
        name = None
    thresholds = (_thresholds(r, s["thresholds"], f"{where}.thresholds", nested=False)
                  if "thresholds" in s else None)
    return name, thresholds


def _unique_names(r: _Reader, stages, path: str) -> None:
    seen: set[str] = set()
    for i, st in enumerate(stages):
        if st.name is not None:
            if st.name in seen:
                r.error(f"{path}[{i}].name", f"{st.name!r} names two stages; names must be "
                                             "unique")
            seen.add(st.name)


# --- rate loads (open loop) -------------------------------------------------------------------

_RATE_BREAKPOINT_KEYS = {"startRps", "stepRps", "maxRps"}
_OPEN_LOOP_KEYS = {"arrival", "maxInFlight"}


def _is_rate_breakpoint(value) -> bool:
    return isinstance(value, dict) and bool(_RATE_BREAKPOINT_KEYS & set(value))


def _open_loop_load(r: _Reader, d: dict, mode: str, path: str, stop: float) -> Load:
    """rate, rateStages or a breakpoint by rate; arrival/maxInFlight wherever they belong."""
    where = f"{path}.{mode}"
    rate = rate_stages = rate_breakpoint = None
    if mode == "rate":
        settings = r.mapping(d["rate"], where, {"rps", "duration"} | _OPEN_LOOP_KEYS) or {}
        if settings:
            rate = Rate(rps=r.number(settings, "rps", where, positive=True, maximum=MAX_RPS),
                        duration_s=r.duration(settings, "duration", where))
    elif mode == "rateStages":
        rate_stages, settings, where = _rate_stages(r, d["rateStages"], where), d, path
    else:
        users_keys = {"startUsers", "stepUsers", "maxUsers", "spawnRate"}
        settings = r.mapping(d["breakpoint"], where, {"startRps", "stepRps", "stepDuration",
                                                       "maxRps"} | _OPEN_LOOP_KEYS | users_keys)
        for key in sorted(users_keys & set(settings or {})):
            r.error(f"{where}.{key}", "a breakpoint steps either users (startUsers, stepUsers, "
                                      "maxUsers) or rate (startRps, stepRps, maxRps), not both")
        settings = settings or {}
        if settings:
            rate_breakpoint = _rate_breakpoint(r, settings, where)
    arrival = settings.get("arrival", "constant") if isinstance(settings, dict) else "constant"
    if arrival not in ARRIVALS:
        r.error(f"{where}.arrival", f"must be one of {', '.join(ARRIVALS)}, not {arrival!r}")
    in_flight = r.integer(settings, "maxInFlight", where, minimum=1, maximum=MAX_IN_FLIGHT,
                          default=DEFAULT_MAX_IN_FLIGHT) if isinstance(settings, dict) else None
    return Load(rate=rate, rate_stages=rate_stages, rate_breakpoint=rate_breakpoint,
                arrival=arrival, max_in_flight=in_flight, stop_timeout_s=stop)


def _rate_stages(r: _Reader, value, path: str) -> tuple[RateStage, ...] | None:
    if not isinstance(value, list) or not value:
        r.error(path, f"must be a non-empty list of {{duration, rps}}, not {value!r}")
        return None
    stages = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        s = r.mapping(item, where, {"duration", "rps", "name", "thresholds"})
        if s is None:
            continue
        duration = r.duration(s, "duration", where)
        rps = r.number(s, "rps", where, minimum=0, maximum=MAX_RPS)
        name, thresholds = _stage_extras(r, s, where)
        stages.append(RateStage(duration_s=duration, rps=rps, name=name, thresholds=thresholds))
    if stages and all(s.rps == 0 for s in stages if s.rps is not None):
        r.error(path, "at least one stage needs rps > 0")
    _unique_names(r, stages, path)
    return tuple(stages)


def _rate_breakpoint(r: _Reader, b: dict, path: str) -> RateBreakpoint:
    start = r.number(b, "startRps", path, positive=True, maximum=MAX_RPS)
    step = r.number(b, "stepRps", path, positive=True, maximum=MAX_RPS)
    step_duration = r.duration(b, "stepDuration", path)
    max_rps = r.number(b, "maxRps", path, positive=True, maximum=MAX_RPS)
    if start is not None and max_rps is not None and max_rps < start:
        r.error(f"{path}.maxRps", f"must be >= startRps ({start:g}), not {max_rps:g}")
    return RateBreakpoint(start_rps=start, step_rps=step, step_duration_s=step_duration,
                          max_rps=max_rps)


def _check_in_flight_share(r: _Reader, spec: dict, load: Load | None, workers) -> None:
    """Each worker takes a share of maxInFlight: every worker needs at least one."""
    if load is None or not load.open_loop or load.max_in_flight is None or \
            not isinstance(workers, int) or load.max_in_flight >= workers:
        return
    where = {"rate": "spec.load.rate", "rateBreakpoint": "spec.load.breakpoint"}.get(
        load.mode, "spec.load")
    r.error(f"{where}.maxInFlight", f"must be >= workers ({workers}): each worker takes a "
                                    f"share of it, not {load.max_in_flight}")


def _breakpoint(r: _Reader, value, path: str) -> Breakpoint | None:
    b = r.mapping(value, path, {"startUsers", "stepUsers", "stepDuration", "maxUsers", "spawnRate"})
    if b is None:
        return None
    start = r.integer(b, "startUsers", path, minimum=1, maximum=MAX_USERS)
    step = r.integer(b, "stepUsers", path, minimum=1, maximum=MAX_USERS)
    step_duration = r.duration(b, "stepDuration", path)
    max_users = r.integer(b, "maxUsers", path, minimum=1, maximum=MAX_USERS)
    rate = r.number(b, "spawnRate", path, positive=True, default=None)
    if start is not None and max_users is not None and max_users < start:
        r.error(f"{path}.maxUsers", f"must be >= startUsers ({start}), not {max_users}")
    if rate is None and step is not None:
        rate = float(step)
    return Breakpoint(start_users=start, step_users=step, step_duration_s=step_duration,
                      max_users=max_users, spawn_rate=rate)


def _range_pair(r: _Reader, d: dict, key: str, path: str, default: tuple[int, int]):
    where = f"{path}.{key}"
    if key not in d:
        return default
    v = d[key]
    ok = (isinstance(v, list) and len(v) == 2
          and all(isinstance(x, int) and not isinstance(x, bool) for x in v))
    if not ok:
        r.error(where, f"must be [min, max] texts per request, not {v!r}")
        return default
    lo, hi = v
    if not 1 <= lo <= hi <= MAX_TEXTS_PER_REQUEST:
        r.error(where, f"must satisfy 1 <= min <= max <= {MAX_TEXTS_PER_REQUEST}, not {v!r}")
        return default
    return (lo, hi)


def _scenario(r: _Reader, spec: dict) -> Scenario:
    if "scenario" not in spec:
        return Scenario()
    path = "spec.scenario"
    s = r.mapping(spec["scenario"], path, {"weights", "singleTexts", "batchTexts"})
    if s is None:
        return Scenario()
    weights = Scenario().weights
    if "weights" in s:
        w = r.mapping(s["weights"], f"{path}.weights", set(weights))
        if w is not None:
            weights = {k: r.integer(w, k, f"{path}.weights", minimum=0, default=0) for k in weights}
            if all(isinstance(x, int) for x in weights.values()) and sum(weights.values()) == 0:
                r.error(f"{path}.weights", "at least one weight must be > 0")
    return Scenario(weights=weights,
                    single_texts=_range_pair(r, s, "singleTexts", path, Scenario.single_texts),
                    batch_texts=_range_pair(r, s, "batchTexts", path, Scenario.batch_texts))


def _locustfile(r: _Reader, spec: dict) -> LocustfileRef | None:
    if "locustfile" not in spec:
        return None
    path = "spec.locustfile"
    d = r.mapping(spec["locustfile"], path, {"configMapRef"})
    if d is None:
        return None
    if "configMapRef" not in d:
        r.error(f"{path}.configMapRef", "is required")
        return None
    ref = r.mapping(d["configMapRef"], f"{path}.configMapRef", {"name", "key"})
    if ref is None:
        return None
    name = r.string(ref, "name", f"{path}.configMapRef")
    key = r.string(ref, "key", f"{path}.configMapRef", default="locustfile.py")
    return LocustfileRef(config_map_name=name, key=key)


def _thresholds(r: _Reader, value, path: str, *, nested: bool) -> Thresholds:
    allowed = {k.key for k in THRESHOLD_KEYS} | ({"endpoints"} if nested else set())
    d = r.mapping(value, path, allowed)
    if d is None:
        return Thresholds()
    endpoints: dict[str, Thresholds] = {}
    if nested and "endpoints" in d:
        eps = r.mapping(d["endpoints"], f"{path}.endpoints")
        for name, sub in (eps or {}).items():
            endpoints[str(name)] = _thresholds(r, sub, f"{path}.endpoints[{name!r}]", nested=False)
    limits = {k.field: r.number(d, k.key, path, positive=k.positive,
                                minimum=None if k.positive else 0, maximum=k.maximum,
                                default=None)
              for k in THRESHOLD_KEYS}
    return Thresholds(**limits, endpoints=endpoints)


def parse_thresholds(value, path: str = "thresholds") -> Thresholds:
    """A bare `spec.thresholds` mapping (as `loadgate gate --thresholds` takes it), validated
    by the same rules as inside a LoadTest; SpecError lists every problem."""
    r = _Reader()
    thresholds = _thresholds(r, {} if value is None else value, path, nested=True)
    if r.errors:
        raise SpecError(r.errors)
    return thresholds


def _baseline(r: _Reader, spec: dict) -> Baseline | None:
    if "baseline" not in spec:
        return None
    path = "spec.baseline"
    d = r.mapping(spec["baseline"], path, {"loadTestRef", "maxRegressionPct"})
    if d is None:
        return None
    return Baseline(load_test_ref=r.string(d, "loadTestRef", path),
                    max_regression_pct=r.number(d, "maxRegressionPct", path, minimum=0,
                                                default=Baseline.max_regression_pct))


def _timeouts(r: _Reader, spec: dict, target: Target | None, load: Load | None) -> Timeouts:
    """spec.timeouts; `deadline` must cover readyTimeout + the planned load + stopTimeout +
    DEADLINE_MARGIN_S, so Locust always stops by its own plan first (also the default)."""
    path = "spec.timeouts"
    d = r.mapping(spec["timeouts"], path, {"workersConnect", "deadline"}) \
        if "timeouts" in spec else {}
    if d is None:
        return Timeouts()
    connect = r.duration(d, "workersConnect", path, default=Timeouts.workers_connect_s)
    minimum = _minimum_deadline(target, load)
    deadline = r.duration(d, "deadline", path, default=minimum)
    if deadline is None or minimum is None:
        return Timeouts(workers_connect_s=connect, deadline_s=deadline or Timeouts.deadline_s)
    if deadline < minimum:
        r.error(f"{path}.deadline", (
            f"must be at least {format_duration(minimum)} = target.readyTimeout "
            f"{format_duration(target.ready_timeout_s)} + the planned load "
            f"{format_duration(load.duration_s)} + load.stopTimeout "
            f"{format_duration(load.stop_timeout_s)} + {format_duration(DEADLINE_MARGIN_S)} "
            f"for pods to start and Locust to write its results; not {d['deadline']!r} "
            f"(leave it out to get the minimum)"))
    return Timeouts(workers_connect_s=connect, deadline_s=deadline)


def _minimum_deadline(target: Target | None, load: Load | None) -> float | None:
    """None while the parts it adds up are themselves invalid (already reported)."""
    if target is None or target.ready_timeout_s is None or load is None \
            or load.stop_timeout_s is None:
        return None
    try:
        return minimum_deadline_s(target, load)
    except TypeError:  # a stage or breakpoint field was invalid
        return None


def load_file(path) -> LoadTest:
    """Read a YAML file holding exactly one LoadTest document; SpecError for anything wrong."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError([("", f"cannot read LoadTest file {str(p)!r}: {e.strerror or e}")]) from e
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise SpecError([("", f"{p}: not valid YAML: {e}")]) from e
    if len(docs) != 1:
        raise SpecError([("", f"{p}: expected exactly one LoadTest document, found {len(docs)}")])
    return parse(docs[0])
