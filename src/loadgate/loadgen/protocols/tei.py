"""Hugging Face Text Embeddings Inference: POST /embed {"inputs": [...]} -> [[floats], ...].

  single  POST scenario.path (default /embed), singleTexts texts   "<path> [single]"
  batch   the same with batchTexts texts                          "<path> [batch]"
  health  GET target.healthPath, any 200                          "<healthPath>"

Checks: status 200 (429/503 their own kind), a list with one embedding per text, all of one
dimension (scenario.dimension, else the first good answer's); the floats counted, not decoded
(vectors.py).
"""

from __future__ import annotations

from loadgate.loadgen.protocols import common, vectors


def check(resp, user, scenario, sent: int) -> None:
    body, sizes = common.counted(resp, user, scenario, vectors.cut_array, b"",
                                 lambda body, sizes: body == [])
    if body is not common.NOT_JSON:
        common.check_vectors(resp, body, sent, common.dimension(scenario), sizes)


TASKS = common.embedding_tasks(lambda sent, scenario: {"inputs": sent}, check)
