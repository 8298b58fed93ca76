"""Table-driven tests of the LoadTest parser: valid documents, every error with its field path."""

import copy
import json

import pytest
from support.loadtests import loadtest_doc

from loadgate import spec
from loadgate.spec import SpecError, format_duration, load_file, parse, parse_duration


def doc(**spec_fields) -> dict:
    """The factory's default document (url 127.0.0.1:8000, 10 users); fields replace whole."""
    d = loadtest_doc("t")
    d["spec"].update(spec_fields)
    return d


@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("1h2m3s", 3723), ("90", 90),
    ("1.5s", 1.5), (45, 45), (2.5, 2.5), ("0s", 0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["3x", "", "s", "m5", "5m1h", "-5s", "1.5m", None, True, -1,
                                 [1], "1 m", " 10s"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError) as e:
        parse_duration(bad, "spec.load.runTime")
    assert str(e.value).startswith("spec.load.runTime: invalid duration")


@pytest.mark.parametrize("seconds,text", [(90, "1m30s"), (3600, "1h"), (0, "0s"), (59.2, "1m"),
                                          (3723, "1h2m3s"), (30, "30s"), (120, "2m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) >= seconds


def test_constant_defaults():
    lt = parse(doc(load={"users": 10, "runTime": "1m"}))
    assert lt.name == "t" and lt.namespace == "default"
    assert lt.target == spec.Target("http://127.0.0.1:8000", "/health", 300.0)
    assert lt.load.mode == "constant" and lt.load.spawn_rate == 10.0  # all at once
    assert lt.load.run_time_s == 60 and lt.load.duration_s == 60 and lt.load.max_users == 10
    assert lt.load.stop_timeout_s == 10
    assert lt.workers == 1 and lt.ttl_seconds_after_finished == 86400
    assert lt.scenario.weights == {"single": 8, "batch": 2, "health": 1}
    assert lt.scenario.single_texts == (1, 2) and lt.scenario.batch_texts == (8, 16)
    # the deadline defaults to its minimum: readyTimeout 5m + 1m + stopTimeout 10s + 2m margin
    assert lt.timeouts == spec.Timeouts(120.0, 490.0)
    assert lt.thresholds == spec.Thresholds() and lt.baseline is None and lt.locustfile is None


def test_full_document():
    d = doc(
        target={"url": "http://model-server:8000", "healthPath": "/health/live",
                "readyTimeout": "2m"},
        load={"stages": [{"duration": "30s", "users": 10, "spawnRate": 2},
                         {"duration": "1m", "users": 40}, {"duration": "10s", "users": 0}],
              "stopTimeout": "5s"},
        workers=3,
        scenario={"weights": {"single": 1, "batch": 1}, "singleTexts": [1, 1],
                  "batchTexts": [4, 32]},
        locustfile={"configMapRef": {"name": "my-lf"}},
        thresholds={"p95Ms": 500, "p99Ms": 1000, "maxErrorRate": 0.01, "minRps": 10,
                    "endpoints": {"/embed [batch]": {"p95Ms": 900}}},
        baseline={"loadTestRef": "prev"},
        timeouts={"workersConnect": "30s", "deadline": "1h"},
        ttlSecondsAfterFinished=60,
    )
    d["metadata"]["namespace"] = "perf"
    lt = parse(d)
    assert lt.namespace == "perf" and lt.workers == 3
    assert lt.load.mode == "stages" and lt.load.duration_s == 100 and lt.load.max_users == 40
    # default spawn rate reaches the stage in ~1 s: |40 - 10| = 30/s, |0 - 40| = 40/s
    assert [s.spawn_rate for s in lt.load.stages] == [2, 30, 40]
    assert lt.scenario.weights == {"single": 1, "batch": 1, "health": 0}
    assert lt.locustfile == spec.LocustfileRef("my-lf", "locustfile.py")
    assert lt.thresholds.endpoints["/embed [batch]"].p95_ms == 900
    assert lt.baseline == spec.Baseline("prev", 10.0)
    assert lt.timeouts == spec.Timeouts(30.0, 3600.0)
    assert lt.raw_spec == d["spec"] and lt.raw_spec is not d["spec"]


def test_breakpoint_plan():
    lt = parse(doc(load={"breakpoint": {"startUsers": 5, "stepUsers": 5, "stepDuration": "15s",
                                        "maxUsers": 22}}))
    b = lt.load.breakpoint
    assert lt.load.mode == "breakpoint" and lt.load.max_users == 22
    assert b.steps == 5 and [b.users_at_step(i) for i in range(5)] == [5, 10, 15, 20, 22]
    assert lt.load.duration_s == 75 and b.spawn_rate == 5


def _round_trip(d: dict) -> spec.LoadTest:
    """What a Locust process reads: the runtime JSON of the parsed LoadTest, parsed again."""
    lt = parse(d)
    back = parse(json.loads(spec.runtime_json(lt)))
    assert back == lt
    return back


def test_runtime_form_is_json_and_complete():
    lt = _round_trip(doc(thresholds={"p95Ms": 200, "maxErrorRate": 0.05,
                                     "endpoints": {"/health": {"p95Ms": 50}}}))
    assert lt.load.mode == "constant" and lt.load.users == 10 and lt.load.spawn_rate == 5
    assert lt.load.run_time_s == 30 and lt.target.url == "http://127.0.0.1:8000"
    assert lt.thresholds == spec.Thresholds(p95_ms=200, max_error_rate=0.05, endpoints={
        "/health": spec.Thresholds(p95_ms=50)})
    assert (lt.scenario.weights, lt.scenario.single_texts, lt.scenario.batch_texts) == (
        {"single": 8, "batch": 2, "health": 1}, (1, 2), (8, 16))
    bp = _round_trip(doc(load={"breakpoint": {"startUsers": 1, "stepUsers": 2,
                                              "stepDuration": 5, "maxUsers": 9}})).load
    assert bp.breakpoint == spec.Breakpoint(start_users=1, step_users=2, step_duration_s=5.0,
                                            max_users=9, spawn_rate=2.0)
    st = _round_trip(doc(load={"stages": [{"duration": "10s", "users": 3}]})).load
    assert st.stages == (spec.Stage(duration_s=10.0, users=3, spawn_rate=3.0),)
    assert spec.CONFIG_ENV == "LOADGATE_CONFIG"


def test_override_changes_fields_and_validates_like_a_file():
    lt = parse(doc(load={"users": 10, "runTime": "1m"}))
    changed = spec.override(lt, {"target.url": "http://127.0.0.1:9000", "workers": 3,
                                 "load.users": 20})
    assert (changed.target.url, changed.workers, changed.load.users) == (
        "http://127.0.0.1:9000", 3, 20)
    assert changed.load.run_time_s == 60 and changed.name == lt.name
    assert changed.raw_spec["load"] == {"users": 20, "runTime": "1m"}  # the spec as run
    with pytest.raises(SpecError) as e:
        spec.override(lt, {"load.runTime": "3x", "workers": 0})
    assert {p for p, _ in e.value.errors} == {"spec.load.runTime", "spec.workers"}


def _with(path: str, value):
    """doc() with one dotted field set (value DELETE removes it)."""
    d = doc()
    node = d
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    if value is DELETE:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = copy.deepcopy(value)
    return d


DELETE = object()

ERRORS = [
    ("apiVersion", "v1", "apiVersion", "must be 'loadgate.dev/v1alpha1'"),
    ("kind", "Job", "kind", "must be 'LoadTest', not 'Job'"),
    ("kind", DELETE, "kind", "is required (must be 'LoadTest')"),
    ("apiVersion", DELETE, "apiVersion", "is required (must be 'loadgate.dev/v1alpha1')"),
    ("metadata.name", DELETE, "metadata.name", "is required"),
    ("metadata.name", 3, "metadata.name", "non-empty string"),
    ("metadata.name", "Ramp_Up", "metadata.name", "lowercase DNS name"),
    ("metadata.name", "../etc", "metadata.name", "lowercase DNS name"),
    ("metadata.namespace", "Perf", "metadata.namespace", "lowercase DNS label"),
    ("extra", 1, "extra", "unknown field"),
    ("spec.target", DELETE, "spec.target", "is required"),
    ("spec.target.url", DELETE, "spec.target.url", "is required"),
    ("spec.target.url", "model-server:8000", "spec.target.url", "http(s) URL"),
    ("spec.target.healthPath", "health", "spec.target.healthPath", "start with '/'"),
    ("spec.target.readyTimeout", "5 minutes", "spec.target.readyTimeout", "invalid duration"),
    ("spec.target.port", 80, "spec.target.port", "unknown field"),
    ("spec.targte", {}, "spec.targte", "unknown field"),
    ("spec.load", DELETE, "spec.load", "is required"),
    ("spec.load", [], "spec.load", "must be a mapping"),
    ("spec.load.users", -1, "spec.load.users", "must be >= 1"),
    ("spec.load.users", 0, "spec.load.users", "must be >= 1"),
    ("spec.load.users", "10", "spec.load.users", "must be an integer"),
    ("spec.load.users", 2.5, "spec.load.users", "must be an integer"),
    ("spec.load.spawnRate", 0, "spec.load.spawnRate", "must be > 0"),
    ("spec.load.spawnRate", -3, "spec.load.spawnRate", "must be > 0"),
    ("spec.load.runTime", "3x", "spec.load.runTime", "invalid duration '3x' (use 30s, 5m, 1h)"),
    ("spec.load.runTime", "0s", "spec.load.runTime", "longer than 0s"),
    ("spec.load.runTime", DELETE, "spec.load.runTime", "is required"),
    ("spec.load.stopTimeout", "-1s", "spec.load.stopTimeout", "invalid duration"),
    ("spec.load.stages", [{"duration": "10s", "users": 1}], "spec.load", "exactly one of"),
    ("spec.load.breakpoint", {"startUsers": 1, "stepUsers": 1, "stepDuration": "5s",
                              "maxUsers": 5}, "spec.load", "found users and breakpoint"),
    ("spec.workers", 0, "spec.workers", "must be >= 1"),
    ("spec.workers", 101, "spec.workers", "must be <= 100"),
    ("spec.scenario.weights", {"single": 0, "batch": 0, "health": 0}, "spec.scenario.weights",
     "at least one weight"),
    ("spec.scenario.weights", {"single": -1}, "spec.scenario.weights.single", "must be >= 0"),
    ("spec.scenario.weights", {"embed": 1}, "spec.scenario.weights.embed", "unknown field"),
    ("spec.scenario.batchTexts", [16, 8], "spec.scenario.batchTexts", "min <= max"),
    ("spec.scenario.singleTexts", [0, 2], "spec.scenario.singleTexts", "1 <= min"),
    ("spec.scenario.singleTexts", [1, 65], "spec.scenario.singleTexts", "<= 64"),
    ("spec.scenario.batchTexts", 8, "spec.scenario.batchTexts", "[min, max]"),
    ("spec.locustfile", {"configMapRef": {}}, "spec.locustfile.configMapRef.name", "is required"),
    ("spec.locustfile", {"name": "x"}, "spec.locustfile.name", "unknown field"),
    ("spec.thresholds", {"p95Ms": 0}, "spec.thresholds.p95Ms", "must be > 0"),
    ("spec.thresholds", {"p99Ms": "1s"}, "spec.thresholds.p99Ms", "must be a number"),
    ("spec.thresholds", {"maxErrorRate": 1.5}, "spec.thresholds.maxErrorRate", "must be <= 1"),
    ("spec.thresholds", {"minRps": -1}, "spec.thresholds.minRps", "must be >= 0"),
    ("spec.thresholds", {"p95": 500}, "spec.thresholds.p95", "unknown field"),
    ("spec.thresholds", {"endpoints": {"/health": {"p95Ms": -5}}},
     "spec.thresholds.endpoints['/health'].p95Ms", "must be > 0"),
    ("spec.thresholds", {"endpoints": {"/health": {"endpoints": {}}}},
     "spec.thresholds.endpoints['/health'].endpoints", "unknown field"),
    ("spec.baseline", {"maxRegressionPct": 5}, "spec.baseline.loadTestRef", "is required"),
    ("spec.baseline", {"loadTestRef": "p", "maxRegressionPct": -5},
     "spec.baseline.maxRegressionPct", "must be >= 0"),
    ("spec.timeouts", {"workersConnect": "2 min"}, "spec.timeouts.workersConnect",
     "invalid duration"),
    ("spec.timeouts", {"deadline": 0}, "spec.timeouts.deadline", "longer than 0s"),
    ("spec.ttlSecondsAfterFinished", -1, "spec.ttlSecondsAfterFinished", "must be >= 0"),
]


@pytest.mark.parametrize("field,value,path,message", ERRORS, ids=[e[0] + ":" + repr(e[1])[:20]
                                                                   for e in ERRORS])
def test_errors_name_the_field(field, value, path, message):
    with pytest.raises(SpecError) as e:
        parse(_with(field, value))
    assert any(p == path and message in m for p, m in e.value.errors), e.value.errors
    assert f"{path}: " in str(e.value)


@pytest.mark.parametrize("load,target,minimum", [
    ({"users": 10, "runTime": "5m"}, {}, "12m10s"),                       # 5m + 5m + 10s + 2m
    ({"stages": [{"duration": "30s", "users": 10}, {"duration": "1m", "users": 40}],
      "stopTimeout": "5s"}, {"readyTimeout": "1m"}, "4m35s"),              # 1m + 1m30s + 5s + 2m
    ({"breakpoint": {"startUsers": 5, "stepUsers": 5, "stepDuration": "15s", "maxUsers": 100}},
     {"readyTimeout": "30s"}, "7m40s"),                                    # 30s + 20 x 15s + 10s + 2m
])
def test_deadline_must_cover_ready_plan_stop_and_margin(load, target, minimum):
    """A deadline shorter than readyTimeout + planned load + stopTimeout + 2m is rejected,
    naming the fields and the minimum; without one, the minimum is the default."""
    seconds = parse_duration(minimum)
    d = doc(load=load, target={"url": "http://127.0.0.1:8000", **target})
    assert parse(d).timeouts.deadline_s == seconds
    assert parse({**d, "spec": {**d["spec"], "timeouts": {"deadline": minimum}}})
    d["spec"]["timeouts"] = {"deadline": seconds - 1}
    with pytest.raises(SpecError) as e:
        parse(d)
    [(path, message)] = e.value.errors
    assert path == "spec.timeouts.deadline"
    assert message.startswith(f"must be at least {minimum} = target.readyTimeout ")
    for part in ("the planned load", "load.stopTimeout", "2m for pods to start"):
        assert part in message


def test_deadline_follows_an_override():
    """A longer run time from the command line moves the default deadline along; against a
    deadline written in the file it is an error like a bad file."""
    lt = parse(doc(load={"users": 1, "runTime": "1m"}))
    assert spec.override(lt, {"load.runTime": "10m"}).timeouts.deadline_s == 300 + 600 + 10 + 120
    fixed = parse(doc(load={"users": 1, "runTime": "1m"}, timeouts={"deadline": "10m"}))
    with pytest.raises(SpecError, match="spec.timeouts.deadline: must be at least 17m10s"):
        spec.override(fixed, {"load.runTime": "10m"})


LOAD_ERRORS = [
    ({}, "spec.load", "found none"),
    ({"users": 5, "runTime": "5s", "stages": [{"duration": "5s", "users": 1}]}, "spec.load",
     "found users and stages"),
    ({"stages": [{"duration": "5s", "users": 1}], "runTime": "5s"}, "spec.load.runTime",
     "goes with load.users only"),
    ({"stages": []}, "spec.load.stages", "non-empty list"),
    ({"stages": [{"duration": "3x", "users": 1}]}, "spec.load.stages[0].duration",
     "invalid duration '3x' (use 30s, 5m, 1h)"),
    ({"stages": [{"duration": "5s", "users": 1}, {"duration": "3x", "users": 2}]},
     "spec.load.stages[1].duration", "invalid duration '3x'"),
    ({"stages": [{"duration": "5s"}]}, "spec.load.stages[0].users", "is required"),
    ({"stages": [{"duration": "5s", "users": 0}]}, "spec.load.stages", "users > 0"),
    ({"stages": [{"duration": "5s", "users": 1, "rate": 1}]}, "spec.load.stages[0].rate",
     "unknown field"),
    ({"stages": ["5s"]}, "spec.load.stages[0]", "must be a mapping"),
    ({"breakpoint": {"startUsers": 10, "stepUsers": 5, "stepDuration": "5s", "maxUsers": 5}},
     "spec.load.breakpoint.maxUsers", "must be >= startUsers"),
    ({"breakpoint": {"startUsers": 1, "stepUsers": 0, "stepDuration": "5s", "maxUsers": 5}},
     "spec.load.breakpoint.stepUsers", "must be >= 1"),
    ({"breakpoint": {"startUsers": 1, "stepUsers": 1, "maxUsers": 5}},
     "spec.load.breakpoint.stepDuration", "is required"),
    # rate loads (open loop)
    ({"rate": {"rps": 5, "duration": "1m"}, "users": 3, "runTime": "1m"}, "spec.load",
     "found users and rate"),
    ({"rate": {"rps": 0, "duration": "1m"}}, "spec.load.rate.rps", "must be > 0"),
    ({"rate": {"rps": 5}}, "spec.load.rate.duration", "is required"),
    ({"rate": {"rps": 5, "duration": "1m", "arrival": "bursty"}}, "spec.load.rate.arrival",
     "must be one of constant, poisson"),
    ({"rate": {"rps": 5, "duration": "1m", "maxInFlight": 0}}, "spec.load.rate.maxInFlight",
     "must be >= 1"),
    ({"rate": {"rps": 5, "duration": "1m"}, "maxInFlight": 9}, "spec.load.maxInFlight",
     "goes with load.rateStages only; write it inside load.rate"),
    ({"rateStages": [{"duration": "5s", "rps": 0}]}, "spec.load.rateStages", "rps > 0"),
    ({"rateStages": [{"duration": "5s", "users": 3}]}, "spec.load.rateStages[0].users",
     "unknown field"),
    ({"rateStages": [{"duration": "5s", "rps": 3, "name": "a"},
                     {"duration": "5s", "rps": 3, "name": "a"}]},
     "spec.load.rateStages[1].name", "names two stages"),
    ({"stages": [{"duration": "5s", "users": 1, "name": "warm up"}]},
     "spec.load.stages[0].name", "letters, digits"),
    ({"stages": [{"duration": "5s", "users": 1, "thresholds": {"p95Ms": 0}}]},
     "spec.load.stages[0].thresholds.p95Ms", "must be > 0"),
    ({"stages": [{"duration": "5s", "users": 1, "thresholds": {"endpoints": {}}}]},
     "spec.load.stages[0].thresholds.endpoints", "unknown field"),
    ({"breakpoint": {"startRps": 10, "stepRps": 5, "stepDuration": "5s", "maxRps": 5}},
     "spec.load.breakpoint.maxRps", "must be >= startRps (10)"),
    ({"breakpoint": {"startRps": 10, "stepRps": 5, "stepDuration": "5s", "maxRps": 50,
                     "maxUsers": 9}},
     "spec.load.breakpoint.maxUsers", "either users (startUsers, stepUsers, maxUsers) or rate"),
    ({"breakpoint": {"startUsers": 1, "stepUsers": 1, "stepDuration": "5s", "maxUsers": 5,
                     "arrival": "poisson"}}, "spec.load.breakpoint.arrival", "unknown field"),
]


@pytest.mark.parametrize("load,path,message", LOAD_ERRORS)
def test_load_errors(load, path, message):
    with pytest.raises(SpecError) as e:
        parse(doc(load=load))
    assert any(p == path and message in m for p, m in e.value.errors), e.value.errors


def test_all_errors_collected_at_once():
    d = doc(load={"users": -1, "runTime": "3x"}, workers=0, thresholds={"p95Ms": -1})
    d["apiVersion"] = "v1"
    with pytest.raises(SpecError) as e:
        parse(d)
    paths = {p for p, _ in e.value.errors}
    assert {"apiVersion", "spec.load.users", "spec.load.runTime", "spec.workers",
            "spec.thresholds.p95Ms"} <= paths
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("bad", [None, [], "text", {"apiVersion": "loadgate.dev/v1alpha1",
                                                    "kind": "LoadTest", "metadata": {"name": "a"}}])
def test_not_a_document(bad):
    with pytest.raises(SpecError):
        parse(bad)


def test_load_file(tmp_path):
    good = tmp_path / "lt.yaml"
    good.write_text("apiVersion: loadgate.dev/v1alpha1\nkind: LoadTest\nmetadata: {name: f}\n"
                    "spec:\n  target: {url: 'http://127.0.0.1:1'}\n"
                    "  load: {users: 2, runTime: 10s}\n")
    assert load_file(good).name == "f"
    assert load_file(str(good)).load.users == 2
    for name, text, message in [
        ("two.yaml", good.read_text() + "---\n" + good.read_text(), "exactly one"),
        ("empty.yaml", "", "found 0"),
        ("broken.yaml", "spec: [unclosed\n", "not valid YAML"),
    ]:
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(SpecError, match=message):
            load_file(p)
    with pytest.raises(SpecError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_status_is_ignored():
    d = doc()
    d["status"] = {"phase": "Running"}
    assert parse(d).name == "t"


def test_bare_thresholds_are_checked_by_the_same_rules_all_at_once():
    """`loadgate gate --thresholds FILE` parses a bare mapping through the spec's own rules."""
    with pytest.raises(SpecError) as e:
        spec.parse_thresholds({"p95Ms": "fast", "maxErrorRate": 2, "bogus": 1})
    assert {p for p, _ in e.value.errors} == {"thresholds.p95Ms", "thresholds.maxErrorRate",
                                             "thresholds.bogus"}
    assert spec.parse_thresholds({"p95Ms": 500, "endpoints": {"/health": {"p99Ms": 50}}}) == \
        spec.Thresholds(p95_ms=500.0, endpoints={"/health": spec.Thresholds(p99_ms=50.0)})
    assert spec.parse_thresholds(None) == spec.Thresholds()


def test_rate_loads_plan_their_windows():
    lt = parse(doc(load={"rateStages": [
        {"duration": "1m", "rps": 10, "name": "steady", "thresholds": {"p95Ms": 500}},
        {"duration": "30s", "rps": 80, "name": "spike"}], "arrival": "poisson",
        "maxInFlight": 64, "stopTimeout": "5s"}, workers=4))
    load = lt.load
    assert (load.mode, load.open_loop, load.capacity_search) == ("rateStages", True, False)
    assert (load.arrival, load.max_in_flight, load.duration_s, load.max_rps) == \
        ("poisson", 64, 90.0, 80.0)
    steady, spike = load.windows()
    assert (steady.start_s, steady.end_s, steady.rps, steady.label) == (0, 60, 10, "steady")
    assert steady.thresholds == spec.Thresholds(p95_ms=500) and spike.thresholds is None
    bp = parse(doc(load={"breakpoint": {"startRps": 10, "stepRps": 10, "stepDuration": "20s",
                                        "maxRps": 35}})).load
    assert (bp.mode, bp.capacity_search, bp.arrival, bp.max_in_flight) == \
        ("rateBreakpoint", True, "constant", 256)
    assert [w.rps for w in bp.windows()] == [10, 20, 30, 35] and bp.duration_s == 80
    rate = parse(doc(load={"rate": {"rps": 2.5, "duration": "2m"}})).load
    assert (rate.mode, rate.duration_s, [w.rps for w in rate.windows()]) == ("rate", 120, [2.5])
    users = parse(doc()).load
    assert not users.open_loop and users.arrival is None and users.windows()[0].users == 10


def test_every_worker_needs_a_share_of_max_in_flight():
    with pytest.raises(SpecError) as e:
        parse(doc(load={"rate": {"rps": 5, "duration": "1m", "maxInFlight": 2}}, workers=3))
    assert e.value.errors == [("spec.load.rate.maxInFlight",
                               "must be >= workers (3): each worker takes a share of it, not 2")]


def test_rate_override_for_rps_on_the_command_line():
    rate = parse(doc(load={"rate": {"rps": 5, "duration": "1m"}}))
    assert spec.override(rate, spec.rate_override(rate, 40)).load.rate.rps == 40
    users = parse(doc(load={"users": 10, "runTime": "90s", "stopTimeout": "3s"}))
    turned = spec.override(users, spec.rate_override(users, 12.5)).load
    assert (turned.mode, turned.rate.rps, turned.rate.duration_s, turned.stop_timeout_s) == \
        ("rate", 12.5, 90.0, 3.0)
    stages = parse(doc(load={"stages": [{"duration": "5s", "users": 1}]}))
    with pytest.raises(SpecError, match="not a stages load"):
        spec.rate_override(stages, 10)
