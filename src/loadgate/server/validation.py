"""Checking an /embed request: every problem becomes an `InputError` (a 4xx naming it)."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from .settings import ServerSettings


class InputError(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise InputError(415, "unsupported_media_type",
                         f"Content-Type must be application/json, got {ctype or 'none'!r}")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused early by Content-Length and again while streaming (chunked bodies)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise InputError(400, "bad_content_length",
                             f"Content-Length {declared!r} is not a number") from None
        if size > limit:
            raise InputError(413, "body_too_large",
                             f"body is {size} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise InputError(413, "body_too_large",
                             f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _type_name(v: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def json_object(body: bytes, example: str = '{"texts": ["..."]}') -> dict:
    """The JSON object a body holds; `example` shows the expected shape in the error."""
    if not body.strip():
        raise InputError(400, "invalid_json", f"body is empty; send {example}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise InputError(400, "invalid_json", f"body is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InputError(422, "invalid_body",
                         f"body must be a JSON object {example}, got {_type_name(doc)}")
    return doc


def parse_texts(body: bytes, settings: ServerSettings) -> list[str]:
    """The `texts` of a JSON body {"texts": [...]}, checked against the limits in settings."""
    doc = json_object(body)
    if "texts" not in doc:
        raise InputError(422, "missing_texts", 'body has no "texts" field')
    texts = doc["texts"]
    if not isinstance(texts, list):
        raise InputError(422, "texts_not_a_list",
                         f'"texts" must be an array of strings, got {_type_name(texts)}')
    return check_texts(texts, settings)


def check_texts(texts: list, settings: ServerSettings, field: str = "texts") -> list[str]:
    """The texts of a request (a list under `field`), checked against the limits in settings;
    /embed and /v1/embeddings share these rules."""
    if not texts:
        raise InputError(422, "empty_texts", f'"{field}" is empty; send at least one text')
    if len(texts) > settings.max_texts_per_request:
        raise InputError(422, "too_many_texts",
                         f'"{field}" has {len(texts)} items; the limit is '
                         f"{settings.max_texts_per_request}")
    limit = settings.max_chars_per_text
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(422, "text_not_a_string",
                             f"{field}[{i}] must be a string, got {_type_name(t)}")
        if not t.strip():
            raise InputError(422, "empty_text", f"{field}[{i}] is empty or only whitespace")
        if len(t) > limit:
            raise InputError(422, "text_too_long",
                             f"{field}[{i}] has {len(t)} characters; the limit is {limit}")
    return texts
