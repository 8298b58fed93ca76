"""The CRD's protocol, header and chat-threshold fields: the examples in examples/openai are
valid for the API server's schema and loadgate's parser alike, bad values are refused by the
schema, and the CEL rules (mirrored here rule by rule, as the API server evaluates them) agree
with the parser on every case."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from support.crd import REPO, validate_loadtest, validator, version
from support.loadtests import loadtest_doc

from loadgate.spec import SpecError, parse

EXAMPLES = REPO / "examples" / "openai"
LOADTESTS = sorted(EXAMPLES.glob("*loadtest.yaml"))


def has(d: dict, *keys: str) -> bool:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return False
        d = d[k]
    return True


def chat(sc: dict) -> bool:
    return sc.get("protocol") == "openai-chat"


# rule text in the CRD -> the same rule in Python (self = the object the rule sits on)
SCENARIO_RULES = {
    "!has(self.maxTokens) || self.maxTokens[0] <= self.maxTokens[1]":
        lambda s: not has(s, "maxTokens") or s["maxTokens"][0] <= s["maxTokens"][1],
    "(has(self.protocol) && self.protocol == 'openai-chat') || (!has(self.maxTokens) && "
    "!has(self.stream) && !(has(self.weights) && has(self.weights.chat)))":
        lambda s: chat(s) or not (has(s, "maxTokens") or has(s, "stream")
                                  or has(s, "weights", "chat")),
    "!has(self.protocol) || self.protocol != 'openai-chat' || (!has(self.singleTexts) && "
    "!has(self.batchTexts) && !has(self.dimension) && !(has(self.weights) && "
    "(has(self.weights.single) || has(self.weights.batch))))":
        lambda s: not chat(s) or not any(has(s, *k) for k in (
            ("singleTexts",), ("batchTexts",), ("dimension",), ("weights", "single"),
            ("weights", "batch"))),
    "!has(self.model) || (has(self.protocol) && (self.protocol == 'openai-embeddings' || "
    "self.protocol == 'openai-chat'))":
        lambda s: not has(s, "model") or s.get("protocol") in ("openai-embeddings",
                                                                "openai-chat"),
}
HEADER_RULES = {"has(self.value) != has(self.valueFrom)":
                lambda h: has(h, "value") != has(h, "valueFrom")}
VALUE_FROM_RULES = {"(has(self.env) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) == 1":
                    lambda v: has(v, "env") + has(v, "secretKeyRef") == 1}
SPEC_RULES = {
    "!has(self.thresholds) || (!has(self.thresholds.ttftP95Ms) && "
    "!has(self.thresholds.itlP95Ms) && !has(self.thresholds.minOutputTokensPerS)) || "
    "(has(self.scenario) && has(self.scenario.protocol) && "
    "self.scenario.protocol == 'openai-chat')":
        lambda sp: not any(has(sp, "thresholds", k) for k in (
            "ttftP95Ms", "itlP95Ms", "minOutputTokensPerS")) or chat(sp.get("scenario", {})),
}


def spec_schema() -> dict:
    return version()["schema"]["openAPIV3Schema"]["properties"]["spec"]


def declared(node: dict) -> set[str]:
    return {r["rule"] for r in node.get("x-kubernetes-validations", [])}


def test_cel_rules_are_declared_as_mirrored():
    spec = spec_schema()
    headers = spec["properties"]["target"]["properties"]["headers"]["items"]
    assert declared(spec["properties"]["scenario"]) == set(SCENARIO_RULES)
    assert declared(headers) == set(HEADER_RULES)
    assert declared(headers["properties"]["valueFrom"]) == set(VALUE_FROM_RULES)
    assert set(SPEC_RULES) <= declared(spec)


def api_server_accepts(spec: dict) -> bool:
    """Schema, then the CEL rules of the parts this file covers."""
    try:
        validator("spec").validate(spec)
    except jsonschema.ValidationError:
        return False
    headers = spec.get("target", {}).get("headers", [])
    return (all(rule(spec.get("scenario", {})) for rule in SCENARIO_RULES.values())
            and all(rule(h) for h in headers for rule in HEADER_RULES.values())
            and all(rule(h["valueFrom"]) for h in headers if "valueFrom" in h
                    for rule in VALUE_FROM_RULES.values())
            and all(rule(spec) for rule in SPEC_RULES.values()))


@pytest.mark.parametrize("path", LOADTESTS, ids=[p.name for p in LOADTESTS])
def test_openai_examples_are_valid_loadtests(path):
    doc = yaml.safe_load(path.read_text())
    validate_loadtest(doc)
    assert api_server_accepts(doc["spec"])


def test_the_chat_example_reads_its_key_from_the_example_secret():
    secret = yaml.safe_load((EXAMPLES / "api-key-secret.yaml").read_text())
    kv = pytest.importorskip("kubernetes_validate")
    kv.validate(secret, "1.30", strict=True)
    lt = parse(yaml.safe_load((EXAMPLES / "chat-loadtest.yaml").read_text()))
    (header,) = lt.target.headers
    assert (header.name, header.secret_name) == ("Authorization", secret["metadata"]["name"])
    assert header.secret_key in secret["stringData"] and lt.scenario.protocol == "openai-chat"


BASE = {"target": {"url": "http://vllm:8000"}, "load": {"users": 2, "runTime": "1m"}}
CASES = {
    "chat": {"scenario": {"protocol": "openai-chat", "model": "m", "maxTokens": [8, 64],
                          "weights": {"chat": 3, "health": 1}, "stream": True},
             "thresholds": {"ttftP95Ms": 800, "itlP95Ms": 50, "minOutputTokensPerS": 10}},
    "embeddings": {"scenario": {"protocol": "openai-embeddings", "model": "m",
                                "dimension": 768, "path": "/embeddings",
                                "honorRetryAfter": True}},
    "headers": {"target": {"url": "http://x:1", "headers": [
        {"name": "Authorization", "valueFrom": {"secretKeyRef": {"name": "k", "key": "b"}}},
        {"name": "X-Env", "valueFrom": {"env": "KEY"}}, {"name": "X-Lit", "value": "v"}]}},
    "maxTokens reversed": {"scenario": {"protocol": "openai-chat", "maxTokens": [64, 8]}},
    "maxTokens on tei": {"scenario": {"protocol": "tei", "maxTokens": [8, 64]}},
    "stream on loadgate": {"scenario": {"stream": False}},
    "chat weight on embeddings": {"scenario": {"protocol": "openai-embeddings",
                                               "weights": {"chat": 1}}},
    "batch texts on chat": {"scenario": {"protocol": "openai-chat", "batchTexts": [2, 4]}},
    "dimension on chat": {"scenario": {"protocol": "openai-chat", "dimension": 8}},
    "model on tei": {"scenario": {"protocol": "tei", "model": "m"}},
    "unknown protocol": {"scenario": {"protocol": "grpc"}},
    "chat threshold, no chat": {"thresholds": {"itlP95Ms": 50}},
    "chat threshold per endpoint": {"scenario": {"protocol": "openai-chat"}, "thresholds": {
        "endpoints": {"/v1/chat/completions": {"ttftP95Ms": 9}}}},
    "header without value": {"target": {"url": "http://x:1", "headers": [{"name": "X-A"}]}},
    "header with both": {"target": {"url": "http://x:1", "headers": [
        {"name": "X-A", "value": "v", "valueFrom": {"env": "A"}}]}},
    "valueFrom with both": {"target": {"url": "http://x:1", "headers": [
        {"name": "X-A", "valueFrom": {"env": "A", "secretKeyRef": {"name": "k", "key": "b"}}}]}},
    "header name with a space": {"target": {"url": "http://x:1", "headers": [
        {"name": "X A", "value": "v"}]}},
    "secret without key": {"target": {"url": "http://x:1", "headers": [
        {"name": "X-A", "valueFrom": {"secretKeyRef": {"name": "k"}}}]}},
    "header value with a newline": {"target": {"url": "http://x:1", "headers": [
        {"name": "X-A", "value": "a\nb"}]}},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_api_server_and_parser_agree(case):
    spec = {**BASE, **CASES[case]}
    try:
        parse(loadtest_doc("t", **spec))
        parsed = True
    except SpecError:
        parsed = False
    assert api_server_accepts(spec) == parsed
    assert parsed == (case in ("chat", "embeddings", "headers"))
