"""/embed through the real app and the real model (in process, lifespan and all)."""

from __future__ import annotations

import concurrent.futures
import time

import numpy as np
import pytest

from .conftest import LIMITS


def embed(client, texts):
    r = client.post("/embed", json={"texts": texts})
    assert r.status_code == 200, r.text
    return r.json()


def cos(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_shape_and_contract(client):
    body = embed(client, ["hello world", "a second, longer sentence about load tests"])
    assert set(body) == {"embeddings", "model", "dim", "count"}
    assert body["dim"] == 384 and body["count"] == 2
    assert body["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    emb = np.asarray(body["embeddings"])
    assert emb.shape == (2, 384) and np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)  # normalized model


def test_values_mean_something_and_match_the_model(client):
    texts = ["A man is eating food.", "A man is eating a piece of bread.",
             "The stock market fell sharply today."]
    emb = embed(client, texts)["embeddings"]
    assert cos(emb[0], emb[1]) > cos(emb[0], emb[2]) + 0.3
    # what /embed serves is the loaded model's own output (its quality against
    # sentence-transformers on torch is guarded in test_server_quality.py)
    direct = client.app.state.server.embedder.encode(texts)
    np.testing.assert_allclose(np.asarray(emb, np.float32), direct, atol=1e-5)


def test_concurrent_requests_are_batched_and_equal_the_one_request_path(client):
    rng = np.random.default_rng(7)
    words = "queue latency model batch vector token cloud user answer search".split()
    reqs = [[" ".join(rng.choice(words, size=rng.integers(2, 30))) for _ in range(n)]
            for n in rng.integers(1, LIMITS["max_texts_per_request"] + 1, size=24)]
    registry = client.app.state.server.metrics.registry

    def sample(name):
        return registry.get_sample_value(name) or 0.0

    calls0 = sample("loadgate_batch_size_requests_count")
    reqs0 = sample("loadgate_batch_size_requests_sum")
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        bodies = list(pool.map(lambda t: embed(client, t), reqs))
    calls = sample("loadgate_batch_size_requests_count") - calls0
    merged = sample("loadgate_batch_size_requests_sum") - reqs0
    assert merged == len(reqs)
    assert calls < len(reqs), "no two concurrent requests shared a model call"
    # the one-request path: each request alone through the same model, padded only to itself
    embedder = client.app.state.server.embedder
    for texts, body in zip(reqs, bodies, strict=True):
        assert body["count"] == len(texts)
        alone = embedder.encode(texts)
        np.testing.assert_allclose(np.asarray(body["embeddings"], np.float32), alone, atol=1e-5)


LONG = "x" * (LIMITS["max_chars_per_text"] + 1)
TOO_MANY = ["t"] * (LIMITS["max_texts_per_request"] + 1)

BAD_INPUT = [
    # (id, body bytes, content type, status, error code, word in the detail)
    ("missing texts", b'{"text": ["a"]}', "application/json", 422, "missing_texts", "texts"),
    ("empty list", b'{"texts": []}', "application/json", 422, "empty_texts", "empty"),
    ("too many", f'{{"texts": {TOO_MANY!r}}}'.replace("'", '"').encode(), "application/json",
     422, "too_many_texts", "limit"),
    ("empty string", b'{"texts": ["ok", ""]}', "application/json", 422, "empty_text",
     "texts[1]"),
    ("whitespace only", b'{"texts": ["  \\n\\t"]}', "application/json", 422, "empty_text",
     "texts[0]"),
    ("too long", f'{{"texts": ["{LONG}"]}}'.encode(), "application/json", 422,
     "text_too_long", "characters"),
    ("number in list", b'{"texts": ["a", 3]}', "application/json", 422, "text_not_a_string",
     "texts[1]"),
    ("null in list", b'{"texts": [null]}', "application/json", 422, "text_not_a_string",
     "null"),
    ("nested list", b'{"texts": [["a"]]}', "application/json", 422, "text_not_a_string",
     "array"),
    ("texts is a string", b'{"texts": "abc"}', "application/json", 422, "texts_not_a_list",
     "string"),
    ("texts is null", b'{"texts": null}', "application/json", 422, "texts_not_a_list", "null"),
    ("top-level list", b'["a", "b"]', "application/json", 422, "invalid_body", "object"),
    ("top-level string", b'"a"', "application/json", 422, "invalid_body", "object"),
    ("bad JSON", b'{"texts": ["a",', "application/json", 400, "invalid_json", "JSON"),
    ("empty body", b"", "application/json", 400, "invalid_json", "empty"),
    ("invalid UTF-8", b'{"texts": ["\xff\xfe"]}', "application/json", 400, "invalid_json",
     "JSON"),
    ("lone surrogate", b'{"texts": ["\\ud800"]}', "application/json", 400, "invalid_json",
     "JSON"),
    ("huge body", b'{"texts": ["' + b"a" * LIMITS["max_body_bytes"] + b'"]}',
     "application/json", 413, "body_too_large", "limit"),
    ("form content type", b"texts=a", "application/x-www-form-urlencoded", 415,
     "unsupported_media_type", "application/json"),
    ("text/plain JSON", b'{"texts": ["a"]}', "text/plain", 415, "unsupported_media_type",
     "text/plain"),
    ("no content type", b'{"texts": ["a"]}', None, 415, "unsupported_media_type", "none"),
]


@pytest.mark.parametrize("body,ctype,status,error,word",
                         [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_a_4xx_naming_the_problem(client, body, ctype, status, error, word):
    headers = {"content-type": ctype} if ctype else {}
    r = client.post("/embed", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    got = r.json()
    assert got["error"] == error
    assert word.lower() in got["detail"].lower()


def test_huge_body_is_refused_by_content_length_and_while_streaming(client):
    limit = LIMITS["max_body_bytes"]
    r = client.post("/embed", content=b"{}", headers={"content-type": "application/json",
                                                      "content-length": str(limit + 1)})
    assert r.status_code == 413 and str(limit + 1) in r.json()["detail"]

    def chunks():  # no Content-Length: a chunked body, counted as it arrives
        yield b'{"texts": ["'
        for _ in range(limit // 1000 + 2):
            yield b"a" * 1000
        yield b'"]}'

    r = client.post("/embed", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    r = client.post("/embed", content=b'{"texts": ["a"]}',
                    headers={"content-type": "application/json", "content-length": "nope"})
    assert 400 <= r.status_code < 500


def test_charset_and_unicode_are_fine_and_server_still_serves(client):
    r = client.post("/embed", content='{"texts": ["naïve café ☕ 日本語"]}'.encode(),
                    headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and r.json()["count"] == 1
    assert client.get("/health").json() == {"status": "ok"}


def test_wrong_method_and_unknown_route_are_json_4xx(client):
    r = client.get("/embed")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_a_model_that_cannot_load_keeps_answering_and_fails_liveness(tmp_path):
    from fastapi.testclient import TestClient

    from loadgate.server.app import create_app
    from loadgate.server.settings import ServerSettings

    app = create_app(ServerSettings(model_name=str(tmp_path / "no-such-model")))
    with TestClient(app) as c:
        deadline = time.monotonic() + 60
        while c.get("/health/live").status_code == 200:
            assert time.monotonic() < deadline, "load failure never reported"
            time.sleep(0.05)
        live = c.get("/health/live")
        assert live.status_code == 503 and live.json()["status"] == "failed"
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "no-such-model" in health.json()["detail"]
        r = c.post("/embed", json={"texts": ["a"]})
        assert r.status_code == 503 and r.json()["error"] == "not_ready"
        assert "failed to load" in r.json()["detail"] and r.headers["retry-after"]
