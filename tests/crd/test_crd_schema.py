"""The LoadTest CRD: a valid apiextensions.k8s.io/v1 object whose schema accepts every profile
and rejects bad CRs (structural checks with jsonschema; the CEL rules checked by hand)."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml
from support.crd import REPO, crd, openapi_to_jsonschema, validator, version
from support.loadtests import loadtest_doc

PROFILES = sorted((REPO / "profiles").glob("*.yaml"))


def cel_load_rules(load: dict) -> bool:
    """spec.load's CEL rules (and those of its breakpoint and stage lists), evaluated the way
    the API server would."""
    n = sum(k in load for k in ("users", "stages", "breakpoint", "rate", "rateStages"))
    ok = n == 1 and ("users" not in load or "runTime" in load) and (
        "users" in load or ("runTime" not in load and "spawnRate" not in load)) and (
        "rateStages" in load or ("arrival" not in load and "maxInFlight" not in load))
    bp = load.get("breakpoint")
    if isinstance(bp, dict):
        by_users = {"startUsers", "stepUsers", "maxUsers"} <= set(bp) and not (
            {"startRps", "stepRps", "maxRps", "arrival", "maxInFlight"} & set(bp))
        by_rate = {"startRps", "stepRps", "maxRps"} <= set(bp) and not (
            {"startUsers", "stepUsers", "maxUsers", "spawnRate"} & set(bp))
        ok = ok and (by_users or by_rate)
        ok = ok and bp.get("maxUsers", 1) >= bp.get("startUsers", 0)
        ok = ok and bp.get("maxRps", 1) >= bp.get("startRps", 0)
    for key in ("stages", "rateStages"):
        names = [s["name"] for s in load.get(key, []) if "name" in s]
        ok = ok and len(names) == len(set(names))
    if "rateStages" in load:
        ok = ok and any(s.get("rps", 0) > 0 for s in load["rateStages"])
    return ok


def test_crd_is_a_valid_v1_crd():
    doc = crd()
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    assert doc["kind"] == "CustomResourceDefinition"
    assert doc["metadata"]["name"] == "loadtests.loadgate.dev"
    spec = doc["spec"]
    assert (spec["group"], spec["scope"]) == ("loadgate.dev", "Namespaced")
    assert spec["names"]["kind"] == "LoadTest" and spec["names"]["plural"] == "loadtests"
    assert spec["names"]["shortNames"] == ["lt"]
    v = version()
    assert v["name"] == "v1alpha1" and v["served"] and v["storage"]
    assert v["subresources"] == {"status": {}}
    assert [c["name"] for c in v["additionalPrinterColumns"]] == [
        "Phase", "Verdict", "RPS", "P95", "Breaking-RPS", "Age"]
    # the schema itself is valid JSON Schema once translated
    jsonschema.Draft4Validator.check_schema(
        openapi_to_jsonschema(v["schema"]["openAPIV3Schema"]))


def test_crd_is_accepted_by_kubernetes_validate():
    kv = pytest.importorskip("kubernetes_validate")
    kv.validate(crd(), "1.30", strict=True)  # raises ValidationError on any problem
    bad = crd()
    bad["spec"]["scope"] = 7
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, "1.30", strict=True)


def test_every_status_field_the_operator_writes_is_declared():
    from datetime import datetime, timezone

    from loadgate_operator import status as st
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    s = st.started({}, now, "pvc/x-results/x").patch
    s.update(st.verdict_step(s, {"verdict": "Pass", "reason": "ok",
                                 "summary": {"requests": 10, "rps": 2.5, "p95Ms": 30},
                                 "thresholds": [{"metric": "p95Ms", "limit": 500,
                                                 "observed": 30, "passed": True}],
                                 "breakingPoint": {"found": False, "users": 0, "rps": 0.0,
                                                   "p95Ms": 0.0, "atS": None,
                                                   "reason": "none"}}, now).patch)
    s["runningSince"] = st.iso(now)
    s["collectingSince"] = st.iso(now)
    s["observedGeneration"] = 1
    declared = set(version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"])
    assert set(s) <= declared
    validator("status").validate(s)
    failed = st.fail(s, "DeadlineExceeded", "too slow", now, condition="LoadCompleted").patch
    validator("status").validate({**s, **failed})


@pytest.mark.skipif(not PROFILES, reason="profiles/ not written yet")
@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_profile_validates_against_crd(path):
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "loadgate.dev/v1alpha1" and doc["kind"] == "LoadTest"
    validator("spec").validate(doc["spec"])
    assert cel_load_rules(doc["spec"]["load"])


GOOD = {"target": {"url": "http://model-server:8000", "readyTimeout": "5m"},
        "load": {"users": 10, "spawnRate": 2, "runTime": "1m30s"}, "workers": 2,
        "thresholds": {"p95Ms": 500, "maxErrorRate": 0.01},
        "timeouts": {"workersConnect": "2m", "deadline": "30m"}}


def mutate(path: str, value):
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        node.pop(last)
    else:
        node[last] = value
    return doc


DELETE = object()


def test_good_spec_is_accepted():
    validator("spec").validate(GOOD)
    assert cel_load_rules(GOOD["load"])
    validator("spec").validate(mutate("load.runTime", 90))  # durations: int-or-string


@pytest.mark.parametrize("path,value", [
    ("target", DELETE),
    ("target.url", "model-server:8000"),
    ("target.readyTimeout", "5 minutes"),
    ("load.users", 0),
    ("load.users", "ten"),
    ("load.spawnRate", 0),
    ("workers", 0),
    ("thresholds.maxErrorRate", 1.5),
    ("thresholds.p95Ms", -1),
    ("timeouts.deadline", "30x"),
    ("load.breakpoint", {"startUsers": 5}),
    ("scenario", {"weights": {"single": -1}}),
    ("unknownField", True),
])
def test_invalid_specs_are_rejected_by_the_schema(path, value):
    with pytest.raises(jsonschema.ValidationError):
        validator("spec").validate(mutate(path, value))


RATE_BREAKPOINT = {"startRps": 10, "stepRps": 10, "stepDuration": "20s", "maxRps": 100}


@pytest.mark.parametrize("load", [
    {"users": 5, "runTime": "1m", "stages": [{"duration": "10s", "users": 1}]},
    {"spawnRate": 1},
    {"users": 5},
    {"breakpoint": {"startUsers": 1, "stepUsers": 1, "stepDuration": "5s", "maxUsers": 5},
     "runTime": "1m"},
    {"rate": {"rps": 5, "duration": "1m"}, "users": 2, "runTime": "1m"},
    {"rate": {"rps": 5, "duration": "1m"}, "maxInFlight": 10},
    {"breakpoint": {**RATE_BREAKPOINT, "startUsers": 5}},
    {"breakpoint": {**RATE_BREAKPOINT, "maxRps": 5}},
    {"breakpoint": {"startUsers": 1, "stepUsers": 1, "stepDuration": "5s", "maxUsers": 5,
                    "arrival": "poisson"}},
    {"rateStages": [{"duration": "10s", "rps": 0}]},
    {"rateStages": [{"duration": "10s", "rps": 5, "name": "a"},
                    {"duration": "10s", "rps": 5, "name": "a"}]},
    {"stages": [{"duration": "10s", "users": 5, "name": "a"},
                {"duration": "10s", "users": 5, "name": "a"}]},
])
def test_cel_rules_reject_bad_load_combinations(load):
    validator("spec").validate(mutate("load", load))  # structurally fine...
    assert not cel_load_rules(load)                 # ...but the CEL rules refuse it
    from loadgate.spec import SpecError, parse
    with pytest.raises(SpecError):                  # ...and so does the parser
        parse(loadtest_doc("x", **mutate("load", load)))


@pytest.mark.parametrize("load", [
    {"rate": {"rps": 30, "duration": "2m", "arrival": "poisson", "maxInFlight": 256}},
    {"rateStages": [{"duration": "1m", "rps": 10, "name": "steady",
                     "thresholds": {"p95Ms": 500}},
                    {"duration": "30s", "rps": 80, "name": "spike",
                     "thresholds": {"p95Ms": 2000, "maxDroppedRate": 0.05}}],
     "arrival": "constant", "maxInFlight": 64},
    {"breakpoint": {**RATE_BREAKPOINT, "arrival": "poisson", "maxInFlight": 512}},
    {"stages": [{"duration": "30s", "users": 10, "name": "warm",
                 "thresholds": {"p95Ms": 800}}, {"duration": "1m", "users": 40}]},
])
def test_rate_loads_and_stage_thresholds_are_accepted(load):
    doc = mutate("load", load)
    validator("spec").validate(doc)
    assert cel_load_rules(load)
    from loadgate.spec import parse
    parse(loadtest_doc("x", **doc))


@pytest.mark.parametrize("path,value", [
    ("load", {"rate": {"rps": 0, "duration": "1m"}}),
    ("load", {"rate": {"rps": 5}}),
    ("load", {"rate": {"rps": 5, "duration": "1m", "arrival": "bursty"}}),
    ("load", {"rate": {"rps": 5, "duration": "1m", "maxInFlight": 0}}),
    ("load", {"rateStages": [{"duration": "1m", "rps": -1}]}),
    ("load", {"rateStages": [{"duration": "1m", "rps": 1, "name": "a b"}]}),
    ("load", {"stages": [{"duration": "1m", "users": 1, "thresholds": {"p95Ms": 0}}]}),
    ("thresholds.maxDroppedRate", 2),
])
def test_bad_rate_specs_are_rejected_by_the_schema_and_the_parser(path, value):
    doc = mutate(path, value)
    with pytest.raises(jsonschema.ValidationError):
        validator("spec").validate(doc)
    from loadgate.spec import SpecError, parse
    with pytest.raises(SpecError):
        parse(loadtest_doc("x", **doc))


def test_cel_rules_are_declared():
    load = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["load"]
    rules = [r["rule"] for r in load["x-kubernetes-validations"]]
    assert any("has(self.users)" in r and "has(self.stages)" in r and
               "has(self.breakpoint)" in r and "has(self.rate)" in r and
               "has(self.rateStages)" in r and "== 1" in r for r in rules)


def test_parser_and_crd_agree_on_invalid_load():
    from loadgate.spec import SpecError, parse
    bad = mutate("load", {"users": 5, "runTime": "1m", "stages": [{"duration": "5s",
                                                                  "users": 1}]})
    with pytest.raises(SpecError):
        parse(loadtest_doc("x", **bad))


def test_name_rule_is_declared():
    rules = version()["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    assert any("self.metadata.name.matches" in r["rule"] for r in rules)
