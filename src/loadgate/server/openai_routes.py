"""OpenAI-compatible embeddings on the model server: `POST /v1/embeddings`.

    {"input": "text" | ["text", ...], "model": "...", "encoding_format": "float" | "base64",
     "dimensions": n, "user": "..."}
 -> {"object": "list", "model": "<served model>",
     "data": [{"object": "embedding", "index": i, "embedding": [floats] | "<base64>"}],
     "usage": {"prompt_tokens": n, "total_tokens": n}}

The same request limits, batcher and metrics as /embed (validation.check_texts, the state's
batcher, the /v1/embeddings route label). base64 is the float32 little-endian bytes of each
vector, as OpenAI sends it (the official client asks for it by default and decodes it).
`model` may name anything: one model is served, and the answer names it. `prompt_tokens`
counts the tokens the model reads (its tokenizer, truncated to its maximum sequence length).

Errors are OpenAI-shaped, `{"error": {"message", "type", "param", "code"}}`, so OpenAI
clients raise their usual exceptions: 400 invalid_request_error for bad input (codes as /embed
names them, e.g. too_many_texts, text_too_long), 413 for a body over the limit, 415 for a
content type other than JSON, 503 server_error with Retry-After while loading, overloaded or
shutting down.
"""

from __future__ import annotations

import base64

import numpy as np
from fastapi import APIRouter, Request
from starlette.responses import Response

from .app import ServerState, State, json_response, not_ready_detail
from .batcher import QueueFull, ShuttingDown
from .validation import InputError, check_content_type, check_texts, json_object, read_body

router = APIRouter()
EXAMPLE = '{"input": ["..."], "model": "..."}'
ENCODINGS = ("float", "base64")


def openai_error(state: ServerState, status: int, code: str, message: str, *,
                 param: str | None = None, headers: dict | None = None) -> Response:
    state.metrics.rejected.labels(code).inc()
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return json_response({"error": {"message": message, "type": kind, "param": param,
                                    "code": code}}, status, headers)


def _input_texts(doc: dict, state: ServerState) -> list[str]:
    if "input" not in doc:
        raise InputError(400, "missing_input", '"input" is required: a string or an array '
                                               "of strings")
    value = doc["input"]
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list):
        raise InputError(400, "invalid_input", '"input" must be a string or an array of '
                                               "strings")
    if texts and all(isinstance(t, int | list) and not isinstance(t, bool) for t in texts):
        raise InputError(400, "unsupported_input", "token arrays are not supported by this "
                                                   "server; send the text")
    return check_texts(texts, state.settings, field="input")


def _options(doc: dict, dim: int) -> str:
    """The encoding format, after checking the optional fields."""
    if "model" in doc and not isinstance(doc["model"], str):
        raise InputError(400, "invalid_model", '"model" must be a string')
    encoding = doc.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise InputError(400, "invalid_encoding_format",
                         f'"encoding_format" must be float or base64, not {encoding!r}')
    dimensions = doc.get("dimensions")
    if dimensions is not None and dimensions != dim:
        raise InputError(400, "unsupported_dimensions",
                         f"this model's embeddings have {dim} dimensions; \"dimensions\" must "
                         f"be {dim} or absent, not {dimensions!r}")
    return encoding


def _data(vectors: np.ndarray, encoding: str) -> list[dict]:
    if encoding == "base64":
        rows = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
    else:
        rows = list(vectors)  # orjson writes each float32 row as it is
    return [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]


@router.post("/v1/embeddings")
async def embeddings(request: Request, state: State) -> Response:
    s = state.settings
    retry = {"Retry-After": str(s.retry_after_s)}
    if not state.ready or state.batcher is None:
        return openai_error(state, 503, "not_ready", not_ready_detail(state), headers=retry)
    try:
        check_content_type(request)
        doc = json_object(await read_body(request, s.max_body_bytes), EXAMPLE)
        texts = _input_texts(doc, state)
        encoding = _options(doc, state.embedder.dim)
    except InputError as e:
        param = "input" if e.error not in ("invalid_json", "invalid_body") else None
        return openai_error(state, 400 if e.status == 422 else e.status, e.error, e.detail,
                            param=param)
    try:
        # usage: the tokens the model reads (its own tokenization, truncated to its maximum
        # sequence length), counted on the batcher's tokenizer output
        vectors, n = await state.batcher.submit_counted(texts)
    except QueueFull:
        return openai_error(state, 503, "overloaded",
                            f"more than {s.max_queue} texts are waiting; retry later",
                            headers=retry)
    except ShuttingDown:
        return openai_error(state, 503, "shutting_down", "the server is shutting down",
                            headers={**retry, "Connection": "close"})
    return json_response({"object": "list", "model": s.label, "data": _data(vectors, encoding),
                          "usage": {"prompt_tokens": n, "total_tokens": n}})
