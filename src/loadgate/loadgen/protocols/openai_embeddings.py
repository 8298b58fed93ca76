"""OpenAI-compatible embeddings (vLLM, Infinity, Ollama, LiteLLM, hosted APIs, our server's
/v1/embeddings): POST {"model", "input": [...]}.

  single  POST scenario.path (default /v1/embeddings), singleTexts texts   "<path> [single]"
  batch   the same with batchTexts texts                                  "<path> [batch]"
  health  GET target.healthPath, any 200                                  "<healthPath>"

`model` is scenario.model (not sent when unset). Checks: status 200 (429/503 their own kind),
`data` holds one `embedding` per text (ordered by `index` when the server gives one), all of
one dimension (scenario.dimension, else the first good answer's), and `usage.prompt_tokens`
a count when `usage` is there. The floats are counted, not decoded (vectors.py): each item's
`embedding` is then its size.
"""

from __future__ import annotations

from loadgate.loadgen.protocols import common, vectors

EMBEDDING = b'"embedding":['


def vectors_of(data: list):
    """The embeddings of `data` in input order, or a sentence saying why there are none."""
    if not all(isinstance(d, dict) for d in data):
        return "data holds an item that is not an object"
    if all(isinstance(d.get("index"), int) for d in data):
        data = sorted(data, key=lambda d: d["index"])
        if [d["index"] for d in data] != list(range(len(data))):
            return "data indexes are not 0..n-1"
    return [d.get("embedding") for d in data]


def _placed(body, sizes: list[int]) -> bool:
    """Every counted vector was an item's `embedding` (then replaced by its size)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or len(data) != len(sizes) or \
            not all(isinstance(d, dict) and d.get("embedding") == [] for d in data):
        return False
    for d, size in zip(data, sizes, strict=True):
        d["embedding"] = size
    return True


def check(resp, user, scenario, sent: int) -> None:
    body, sizes = common.counted(resp, user, scenario, vectors.cut_each, EMBEDDING, _placed)
    if body is common.NOT_JSON:
        return
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        resp.failure("answer has no data list")
        return
    usage = body.get("usage")
    if usage is not None and not (isinstance(usage, dict)
                                  and isinstance(usage.get("prompt_tokens"), int)
                                  and usage["prompt_tokens"] >= 0):
        resp.failure("usage.prompt_tokens is not a count")
        return
    vecs = vectors_of(body["data"])   # with sizes: each item's size, in input order
    if isinstance(vecs, str):
        resp.failure(vecs)
        return
    common.check_vectors(resp, vecs, sent, common.dimension(scenario),
                         None if sizes is None else vecs)


def payload(sent: list[str], scenario) -> dict:
    body = {"input": sent}
    if scenario.model:
        body["model"] = scenario.model
    return body


TASKS = common.embedding_tasks(payload, check)
