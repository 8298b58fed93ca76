"""spec.scenario.protocol and its fields, spec.target.headers, the chat thresholds: what parses,
what is refused (every problem with its path), and where header values come from."""

from __future__ import annotations

import pytest
from support.loadtests import loadtest, loadtest_doc

from loadgate import spec
from loadgate.loadgen.protocols import module
from loadgate.spec import (
    PROTOCOLS,
    THRESHOLD_KEYS,
    Header,
    HeaderError,
    SpecError,
    parse,
    resolve_headers,
    secret_env_var,
)


def errors(**spec_fields) -> dict[str, str]:
    with pytest.raises(SpecError) as e:
        parse(loadtest_doc(**spec_fields))
    return dict(e.value.errors)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_each_protocol_has_its_module_and_defaults(protocol):
    sc = loadtest(scenario={"protocol": protocol}).scenario
    assert sc.protocol == protocol and sc.request_path == PROTOCOLS[protocol].path
    assert sc.weights == PROTOCOLS[protocol].weights
    assert set(module(protocol).TASKS) == set(PROTOCOLS[protocol].weights)


def test_chat_scenario_fields(tmp_path):
    lt = loadtest(scenario={"protocol": "openai-chat", "model": "llama", "maxTokens": [16, 64],
                            "stream": False, "honorRetryAfter": True, "path": "/chat",
                            "weights": {"chat": 4, "health": 1}},
                  thresholds={"ttftP95Ms": 800, "itlP95Ms": 60, "minOutputTokensPerS": 500})
    sc = lt.scenario
    assert (sc.model, sc.max_tokens, sc.stream, sc.honor_retry_after) == (
        "llama", (16, 64), False, True)
    assert sc.chat and sc.request_path == "/chat" and sc.weights == {"chat": 4, "health": 1}
    th = lt.thresholds
    assert (th.ttft_p95_ms, th.itl_p95_ms, th.min_output_tokens_per_s) == (800, 60, 500)
    runtime = spec.write_runtime(lt, tmp_path)
    assert spec.read_runtime({spec.CONFIG_ENV: str(runtime)}) == lt  # what Locust reads


def test_default_scenario_is_unchanged():
    sc = loadtest().scenario
    assert (sc.protocol, sc.request_path, sc.model, sc.dimension) == (
        "loadgate", "/embed", None, None)
    assert not sc.chat and not sc.honor_retry_after


def test_misplaced_and_bad_scenario_fields_are_all_reported():
    got = errors(scenario={"protocol": "openai-chat", "singleTexts": [1, 2], "dimension": 384,
                           "maxTokens": [64, 8], "stream": "yes", "weights": {"single": 1},
                           "path": "v1/chat"})
    assert "an embeddings protocol" in got["spec.scenario.singleTexts"]
    assert "an embeddings protocol" in got["spec.scenario.dimension"]
    assert "1 <= min <= max" in got["spec.scenario.maxTokens"]
    assert "true or false" in got["spec.scenario.stream"]
    assert "unknown field" in got["spec.scenario.weights.single"]
    assert "must start with '/'" in got["spec.scenario.path"]
    got = errors(scenario={"protocol": "tei", "model": "m", "maxTokens": [1, 2]})
    assert "openai-embeddings or openai-chat" in got["spec.scenario.model"]
    assert "protocol openai-chat" in got["spec.scenario.maxTokens"]
    assert "must be one of" in errors(scenario={"protocol": "grpc"})["spec.scenario.protocol"]


def test_chat_thresholds_need_a_chat_protocol_and_the_whole_run():
    got = errors(thresholds={"ttftP95Ms": 500, "endpoints": {"/x": {"itlP95Ms": 9}}})
    assert "openai-chat only" in got["spec.thresholds.ttftP95Ms"]
    assert "not per endpoint" in got["spec.thresholds.endpoints['/x'].itlP95Ms"]
    assert "must be > 0" in errors(scenario={"protocol": "openai-chat"},
                                   thresholds={"ttftP95Ms": 0})["spec.thresholds.ttftP95Ms"]
    chat = {k.key for k in THRESHOLD_KEYS if k.chat}
    assert chat == {"ttftP95Ms", "itlP95Ms", "minOutputTokensPerS"}
    assert spec.parse_thresholds({"ttftP95Ms": 300}).ttft_p95_ms == 300  # `loadgate gate`


HEADERS = [{"name": "Authorization", "valueFrom": {"secretKeyRef": {"name": "llm-key",
                                                                     "key": "bearer"}}},
           {"name": "X-Api-Key", "valueFrom": {"env": "MY_KEY"}},
           {"name": "X-Team", "value": "search"}]


def test_headers_parse_and_resolve_from_the_environment():
    headers = loadtest(target={"headers": HEADERS}).target.headers
    assert headers == (Header("Authorization", secret_name="llm-key", secret_key="bearer"),
                       Header("X-Api-Key", env="MY_KEY"), Header("X-Team", value="search"))
    assert secret_env_var("Authorization") == "LOADGATE_HEADER_AUTHORIZATION"
    assert secret_env_var("X-Api-Key") == "LOADGATE_HEADER_X_API_KEY"
    env = {"LOADGATE_HEADER_AUTHORIZATION": "Bearer k", "MY_KEY": "abc"}
    assert resolve_headers(headers, env) == {"Authorization": "Bearer k", "X-Api-Key": "abc",
                                             "X-Team": "search"}
    with pytest.raises(HeaderError) as e:
        resolve_headers(headers, {})
    assert "environment variable MY_KEY is not set" in str(e.value)
    assert "Secret 'llm-key' key 'bearer' (environment variable " \
           "LOADGATE_HEADER_AUTHORIZATION) is not set" in str(e.value)


@pytest.mark.parametrize("header,where,message", [
    ({"name": "Bad Name", "value": "x"}, "spec.target.headers[0].name", "HTTP header name"),
    ({"name": "X-A"}, "spec.target.headers[0]", "exactly one of value or valueFrom"),
    ({"name": "X-A", "value": "x", "valueFrom": {"env": "A"}}, "spec.target.headers[0]",
     "exactly one of value or valueFrom"),
    ({"name": "X-A", "value": "a\r\nX-Evil: 1"}, "spec.target.headers[0].value",
     "without line breaks"),
    ({"name": "X-A", "valueFrom": {}}, "spec.target.headers[0].valueFrom",
     "exactly one of env or secretKeyRef"),
    ({"name": "X-A", "valueFrom": {"env": "1BAD"}}, "spec.target.headers[0].valueFrom.env",
     "environment variable name"),
    ({"name": "X-A", "valueFrom": {"secretKeyRef": {"name": "Key_1"}}},
     "spec.target.headers[0].valueFrom.secretKeyRef.key", "is required"),
])
def test_bad_headers_are_refused(header, where, message):
    assert message in errors(target={"url": "http://a:1", "headers": [header]})[where]


def test_repeated_header_names_are_refused_whatever_their_case():
    got = errors(target={"url": "http://a:1", "headers": [
        {"name": "X-Key", "value": "a"}, {"name": "x-key", "value": "b"}]})
    assert got["spec.target.headers[1].name"] == "repeats header 'X-Key'"
