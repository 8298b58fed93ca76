"""POST /v1/embeddings on the real server process, through the official `openai` client
unchanged: the same embeddings as /embed (within 1e-5), float and base64, usage, the same
batcher and metrics, and OpenAI-shaped errors for bad input."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import openai
import pytest

TEXTS = ["A man is eating food.", "The stock market fell sharply today.",
         "how do I reset my password", "x " * 400]


@pytest.fixture(scope="module")
def client(model_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{model_server}/v1", api_key="unused", max_retries=0,
                         timeout=60)


def embed(base: str, texts: list[str]) -> np.ndarray:
    r = httpx.post(f"{base}/embed", json={"texts": texts}, timeout=60)
    assert r.status_code == 200, r.text
    return np.asarray(r.json()["embeddings"])


# None: the client's default, which asks for base64 and decodes it itself
@pytest.mark.parametrize("encoding", ["float", "base64", None])
def test_openai_client_gets_the_embed_embeddings(client, model_server, encoding):
    kwargs = {} if encoding is None else {"encoding_format": encoding}
    r = client.embeddings.create(model="text-embedding-3-small", input=TEXTS, **kwargs)
    rows = [d.embedding for d in sorted(r.data, key=lambda d: d.index)]
    if encoding == "base64":  # asked for explicitly, the client hands the strings over as sent
        rows = [np.frombuffer(base64.b64decode(row), dtype="<f4") for row in rows]
    got = np.asarray(rows)
    assert got.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(got, embed(model_server, TEXTS), atol=1e-5)
    assert r.model == "sentence-transformers/all-MiniLM-L6-v2" and r.object == "list"
    # the model's own tokenizer: [CLS] + words + [SEP], the long text cut at 256 tokens
    assert r.usage.prompt_tokens == r.usage.total_tokens
    assert 256 + 3 * 5 < r.usage.prompt_tokens <= 256 + 3 * 12


def test_single_string_input_and_raw_base64(model_server):
    r = httpx.post(f"{model_server}/v1/embeddings", timeout=60,
                   json={"input": "hello world", "encoding_format": "base64"})
    assert r.status_code == 200, r.text
    (item,) = r.json()["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    vec = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vec, embed(model_server, ["hello world"])[0], atol=1e-5)
    assert r.json()["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


@pytest.mark.parametrize("body,status,code", [
    ({"model": "m"}, 400, "missing_input"),
    ({"input": []}, 400, "empty_texts"),
    ({"input": [""]}, 400, "empty_text"),
    ({"input": ["ok", 3]}, 400, "text_not_a_string"),
    ({"input": {"text": "x"}}, 400, "invalid_input"),
    ({"input": [[101, 2023]]}, 400, "unsupported_input"),
    ({"input": ["x"] * 65}, 400, "too_many_texts"),
    ({"input": ["x" * 2001]}, 400, "text_too_long"),
    ({"input": "x", "encoding_format": "int8"}, 400, "invalid_encoding_format"),
    ({"input": "x", "dimensions": 256}, 400, "unsupported_dimensions"),
    ({"input": "x", "model": 7}, 400, "invalid_model"),
    ("not json", 400, "invalid_json"),
    ([1, 2], 400, "invalid_body"),
])
def test_bad_input_gets_an_openai_shaped_error(model_server, body, status, code):
    if isinstance(body, str):
        r = httpx.post(f"{model_server}/v1/embeddings", content=body,
                       headers={"Content-Type": "application/json"})
    else:
        r = httpx.post(f"{model_server}/v1/embeddings", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == code and err["type"] == "invalid_request_error" and err["message"]


def test_other_refusals_and_the_client_exception(client, model_server):
    r = httpx.post(f"{model_server}/v1/embeddings", content=b"input=x",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = httpx.post(f"{model_server}/v1/embeddings", content=b"[" + b"1," * 600_000 + b"1]",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="m", input=["fine", "   "])
    assert e.value.body["code"] == "empty_text" and "input[1]" in e.value.body["message"]


def test_same_metrics_as_embed(client, model_server):
    def sample(text: str, prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(prefix))

    before = httpx.get(f"{model_server}/metrics").text
    client.embeddings.create(model="m", input=TEXTS[:2])
    after = httpx.get(f"{model_server}/metrics").text
    ok = 'loadgate_requests_total{method="POST",route="/v1/embeddings",status="200"}'
    assert sample(after, ok) == sample(before, ok) + 1
    batched = "loadgate_batch_size_texts_sum"
    assert sample(after, batched) >= sample(before, batched) + 2  # through the batcher
