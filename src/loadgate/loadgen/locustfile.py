"""loadgate's built-in traffic for the embedding server: `locust -f locustfile.py --host URL`.

Three request kinds, weighted by `scenario.weights` (default 8/2/1) from the LOADGATE_CONFIG
JSON (`loadgate.spec.to_config`):
  /embed [single]  POST /embed with singleTexts (default 1-2) texts
  /embed [batch]   POST /embed with batchTexts (default 8-16) texts
  /health          GET /health
Texts are drawn from a corpus of realistic sentences of mixed length. Every answer is checked
(status 200, `count` and the number of embeddings == texts sent, each embedding 384 floats):
a wrong answer is a failure, never a success. Works under --processes and master/worker
because each process reads the config on import.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, constant, events

from loadgate.loadgen import CORPUS_FILE, generator_cpu
from loadgate.loadgen.runconfig import load_config

EMBEDDING_DIM = 384

# the generator's own CPU, saved next to the CSVs (the gate's `Invalid` on Kubernetes too)
events.init.add_listener(generator_cpu.watch)

CONFIG = load_config()
SCENARIO = CONFIG["scenario"]


def _read_corpus() -> list[str]:
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    texts = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not texts:
        raise RuntimeError(f"{CORPUS_FILE} holds no texts")
    return texts


CORPUS = _read_corpus()


def _texts(bounds) -> list[str]:
    lo, hi = int(bounds[0]), int(bounds[1])
    return random.choices(CORPUS, k=random.randint(lo, hi))


def _check_embed(resp, texts: list[str]) -> None:
    """Mark the response failed unless it holds one 384-float embedding per text."""
    if resp.status_code != 200:
        resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
        return
    try:
        body = resp.json()
    except Exception:  # noqa: BLE001 - any undecodable body is a wrong answer
        resp.failure("response is not JSON")
        return
    if not isinstance(body, dict):
        resp.failure("response is not a JSON object")
        return
    embeddings = body.get("embeddings")
    if body.get("count") != len(texts):
        resp.failure(f"count {body.get('count')!r} != {len(texts)} texts sent")
    elif not isinstance(embeddings, list) or len(embeddings) != len(texts):
        got = len(embeddings) if isinstance(embeddings, list) else type(embeddings).__name__
        resp.failure(f"{got} embeddings for {len(texts)} texts")
    elif any(not isinstance(e, list) or len(e) != EMBEDDING_DIM for e in embeddings):
        bad = next(e for e in embeddings if not isinstance(e, list) or len(e) != EMBEDDING_DIM)
        size = len(bad) if isinstance(bad, list) else type(bad).__name__
        resp.failure(f"embedding of dimension {size}, expected {EMBEDDING_DIM}")
    else:
        resp.success()


def embed_single(user) -> None:
    texts = _texts(SCENARIO["singleTexts"])
    with user.client.post("/embed", json={"texts": texts}, name="/embed [single]",
                          catch_response=True) as resp:
        _check_embed(resp, texts)


def embed_batch(user) -> None:
    texts = _texts(SCENARIO["batchTexts"])
    with user.client.post("/embed", json={"texts": texts}, name="/embed [batch]",
                          catch_response=True) as resp:
        _check_embed(resp, texts)


def health(user) -> None:
    with user.client.get("/health", name="/health", catch_response=True) as resp:
        if resp.status_code != 200:
            resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
            return
        try:
            status = resp.json().get("status")
        except Exception:  # noqa: BLE001
            status = None
        if status != "ok":
            resp.failure(f"health status {status!r}, expected 'ok'")
        else:
            resp.success()


def _tasks() -> dict:
    weights = SCENARIO["weights"]
    by_name = {"single": embed_single, "batch": embed_batch, "health": health}
    tasks = {fn: int(weights.get(name, 0)) for name, fn in by_name.items()}
    tasks = {fn: w for fn, w in tasks.items() if w > 0}
    if not tasks:
        raise RuntimeError("scenario.weights: every weight is 0, nothing to run")
    return tasks


def _wait_time():
    lo, hi = (float(x) for x in CONFIG["waitTimeS"])
    return constant(lo) if lo == hi else between(lo, hi)


class EmbeddingUser(FastHttpUser):
    """One client of the embedding API: think time, then a single, batch or health request."""

    host = CONFIG.get("host")  # --host (or `loadgate run --target`) overrides it
    tasks = _tasks()
    wait_time = _wait_time()
    # A slow server must show up as latency or failures, never as a stuck user.
    network_timeout = 60.0
    connection_timeout = 10.0
