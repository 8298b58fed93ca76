"""The model server's own API: POST /embed {"texts": [...]} and GET /health.

  single  POST /embed with scenario.singleTexts (default 1-2) texts   name "/embed [single]"
  batch   POST /embed with scenario.batchTexts (default 8-16) texts   name "/embed [batch]"
  health  GET /health                                                 name "/health"

Texts are drawn from a corpus of realistic sentences of mixed length. Every answer is checked
(status 200, `count` and the number of embeddings == texts sent, each embedding 384 floats, or
scenario.dimension; the floats counted, not decoded: vectors.py): a wrong answer is a failure,
never a success. 429/503 are failures of their own kind (common.status_ok).
"""

from __future__ import annotations

import orjson

from loadgate.loadgen.protocols import common, vectors

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2, the server's default model
HEALTH_PATH = "/health"   # loadgate's own; joined to the target URL like every request path


EMBEDDINGS = b'"embeddings":'


def _placed(body, sizes) -> bool:
    return isinstance(body, dict) and body.get("embeddings") == []


def check_embed(resp, user, scenario, sent: int) -> None:
    """Mark the response failed unless it holds one embedding of the right size per text."""
    body, sizes = common.counted(resp, user, scenario, vectors.cut_array, EMBEDDINGS, _placed)
    if body is common.NOT_JSON:
        return
    if not isinstance(body, dict):
        resp.failure("response is not a JSON object")
    elif body.get("count") != sent:
        resp.failure(f"count {body.get('count')!r} != {sent} texts sent")
    else:
        common.check_vectors(resp, body.get("embeddings"), sent,
                             common.dimension(scenario, EMBEDDING_DIM), sizes)


def check_health(resp, user, scenario) -> None:
    if not common.status_ok(resp, user, scenario):
        return
    try:
        status = orjson.loads(resp.content).get("status")
    except Exception:  # noqa: BLE001
        status = None
    if status != "ok":
        resp.failure(f"health status {status!r}, expected 'ok'")
    else:
        resp.success()


def health(user, scenario) -> None:
    with user.client.get(common.url(user.host, HEALTH_PATH), name=HEALTH_PATH,
                         catch_response=True) as resp:
        check_health(resp, user, scenario)


TASKS = {**common.embedding_tasks(lambda sent, scenario: {"texts": sent}, check_embed),
         "health": health}
