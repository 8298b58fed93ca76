"""OpenAI-compatible embeddings (vLLM, Infinity, Ollama, LiteLLM, hosted APIs, our server's
/v1/embeddings): POST {"model", "input": [...]}.

  single  POST scenario.path (default /v1/embeddings), singleTexts texts   "<path> [single]"
  batch   the same with batchTexts texts                                  "<path> [batch]"
  health  GET target.healthPath, any 200                                  "<healthPath>"

`model` is scenario.model (not sent when unset). Checks: status 200 (429/503 their own kind),
`data` holds one `embedding` per text (ordered by `index` when the server gives one), all of
one dimension (scenario.dimension, else the first good answer's), and `usage.prompt_tokens`
a count when `usage` is there.
"""

from __future__ import annotations

from loadgate.loadgen.protocols import common


def vectors_of(data: list):
    """The embeddings of `data` in input order, or a sentence saying why there are none."""
    if not all(isinstance(d, dict) for d in data):
        return "data holds an item that is not an object"
    if all(isinstance(d.get("index"), int) for d in data):
        data = sorted(data, key=lambda d: d["index"])
        if [d["index"] for d in data] != list(range(len(data))):
            return "data indexes are not 0..n-1"
    return [d.get("embedding") for d in data]


def check(resp, user, scenario, sent: list[str]) -> None:
    body = common.answer(resp, user, scenario)
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
    vectors = vectors_of(body["data"])
    if isinstance(vectors, str):
        resp.failure(vectors)
        return
    common.check_vectors(resp, vectors, sent, common.dimension(scenario))


def payload(sent: list[str], scenario) -> dict:
    body = {"input": sent}
    if scenario.model:
        body["model"] = scenario.model
    return body


TASKS = common.embedding_tasks(payload, check)
