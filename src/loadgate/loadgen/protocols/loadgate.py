"""The model server's own API: POST /embed {"texts": [...]} and GET /health.

  single  POST /embed with scenario.singleTexts (default 1-2) texts   name "/embed [single]"
  batch   POST /embed with scenario.batchTexts (default 8-16) texts   name "/embed [batch]"
  health  GET /health                                                 name "/health"

Texts are drawn from a corpus of realistic sentences of mixed length. Every answer is checked
(status 200, `count` and the number of embeddings == texts sent, each embedding 384 floats):
a wrong answer is a failure, never a success.
"""

from __future__ import annotations

import random

from loadgate.loadgen import CORPUS_FILE
from loadgate.urls import join

EMBEDDING_DIM = 384
# joined to the target URL with loadgate.urls.join (a trailing slash or a path prefix on the
# target must not turn into //embed)
EMBED_PATH, HEALTH_PATH = "/embed", "/health"


def _read_corpus() -> list[str]:
    lines = CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    texts = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not texts:
        raise RuntimeError(f"{CORPUS_FILE} holds no texts")
    return texts


CORPUS = _read_corpus()


def texts(bounds: tuple[int, int]) -> list[str]:
    lo, hi = int(bounds[0]), int(bounds[1])
    return random.choices(CORPUS, k=random.randint(lo, hi))


def check_embed(resp, sent: list[str]) -> None:
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
    if body.get("count") != len(sent):
        resp.failure(f"count {body.get('count')!r} != {len(sent)} texts sent")
    elif not isinstance(embeddings, list) or len(embeddings) != len(sent):
        got = len(embeddings) if isinstance(embeddings, list) else type(embeddings).__name__
        resp.failure(f"{got} embeddings for {len(sent)} texts")
    elif any(not isinstance(e, list) or len(e) != EMBEDDING_DIM for e in embeddings):
        bad = next(e for e in embeddings if not isinstance(e, list) or len(e) != EMBEDDING_DIM)
        size = len(bad) if isinstance(bad, list) else type(bad).__name__
        resp.failure(f"embedding of dimension {size}, expected {EMBEDDING_DIM}")
    else:
        resp.success()


def check_health(resp) -> None:
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


def _embed(user, bounds, name: str) -> None:
    sent = texts(bounds)
    with user.client.post(join(user.host, EMBED_PATH), json={"texts": sent}, name=name,
                          catch_response=True) as resp:
        check_embed(resp, sent)


def embed_single(user, scenario) -> None:
    _embed(user, scenario.single_texts, "/embed [single]")


def embed_batch(user, scenario) -> None:
    _embed(user, scenario.batch_texts, "/embed [batch]")


def health(user, scenario) -> None:
    with user.client.get(join(user.host, HEALTH_PATH), name="/health", catch_response=True) as resp:
        check_health(resp)


TASKS = {"single": embed_single, "batch": embed_batch, "health": health}
