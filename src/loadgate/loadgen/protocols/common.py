"""What the protocol modules share: the texts they send, the HTTP status check (rate limits as
their own failure kind, Retry-After), the embedding checks and the health request.

Failure messages are fixed sentences (no request-specific numbers) where they name a kind, so
Locust groups them into one row each of locust_failures.csv.

Cheap per request, because a worker's CPU is what a run pays for (`make bench-loadgen`):
request bodies are drawn from pools encoded once (`RequestPool`), answers are decoded with
orjson from the raw bytes (Locust's `resp.json()` decodes text, then parses with the stdlib),
and every embedding's size is counted without building its floats where the answer is compact
(vectors.py).
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from functools import lru_cache

import orjson

from loadgate.loadgen import CORPUS_FILE
from loadgate.loadgen.protocols import RATE_LIMITED_PREFIX
from loadgate.urls import join

# HTTP statuses a rate-limited or overloaded API answers: their own kind of failure
RATE_LIMITED = {429: f"{RATE_LIMITED_PREFIX} 429 Too Many Requests",
                503: f"{RATE_LIMITED_PREFIX} 503 Service Unavailable"}
MAX_BACKOFF_S = 60.0  # a longer Retry-After is capped: one user must not sleep through a run
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def read_lines(path) -> list[str]:
    """The non-empty, non-comment lines of a data file shipped with the package."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not out:
        raise RuntimeError(f"{path} holds no texts")
    return out


CORPUS = read_lines(CORPUS_FILE)


def texts(bounds: tuple[int, int]) -> list[str]:
    lo, hi = int(bounds[0]), int(bounds[1])
    return random.choices(CORPUS, k=random.randint(lo, hi))


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(user, seconds: float) -> None:
    """Hold this user's next request back `seconds` (see backoff_left_s)."""
    until = time.monotonic() + min(seconds, MAX_BACKOFF_S)
    user.loadgate_backoff_until = max(getattr(user, "loadgate_backoff_until", 0.0), until)


def backoff_left_s(user) -> float:
    """How much longer this user must wait before its next request (the locustfile's
    wait_time takes the larger of this and the think time)."""
    return max(0.0, getattr(user, "loadgate_backoff_until", 0.0) - time.monotonic())


def status_ok(resp, user, scenario) -> bool:
    """True for HTTP 200. Otherwise the response is marked failed: 429/503 as their own
    kind ("rate limited: ...", honouring Retry-After when scenario.honorRetryAfter), any other
    status with the start of its body."""
    if resp.status_code == 200:
        return True
    kind = RATE_LIMITED.get(resp.status_code)
    if kind is None:
        resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
        return False
    if scenario.honor_retry_after:
        wait = retry_after_s((resp.headers or {}).get("Retry-After"))
        if wait:
            backoff(user, wait)
    code = _error_code(resp)
    resp.failure(f"{kind} ({code})" if code else kind)
    return False


def _error_code(resp) -> str | None:
    """A short error code from the body (loadgate's "overloaded", "not_ready"; OpenAI's
    error.code or error.type), so different causes keep different rows; None otherwise."""
    try:
        err = orjson.loads(resp.content).get("error")
    except Exception:  # noqa: BLE001 - no JSON body: the status alone is the kind
        return None
    if isinstance(err, dict):
        err = err.get("code") or err.get("type")
    return err if isinstance(err, str) and _CODE.match(err) else None


NOT_JSON = object()


def json_body(resp):
    """The decoded JSON answer, or NOT_JSON after marking the response failed."""
    try:
        return orjson.loads(resp.content)
    except Exception:  # noqa: BLE001 - any undecodable (or absent) body is a wrong answer
        resp.failure("response is not JSON")
        return NOT_JSON


def counted(resp, user, scenario, cut, marker: bytes, placed) -> tuple[object, list | None]:
    """The JSON body of a 200 answer with its vectors counted, not decoded: (body, sizes),
    where `cut(content, marker)` (vectors.py) took the vectors out and `placed(body, sizes)`
    confirms they came from where the protocol puts them. When the answer is not that simple:
    (the whole decoded body, None). (NOT_JSON, None) once the response is marked failed."""
    if not status_ok(resp, user, scenario):
        return NOT_JSON, None
    content = resp.content
    fast = cut(content, marker) if isinstance(content, bytes) else None
    if fast is not None:
        try:
            body = orjson.loads(fast[0])
        except orjson.JSONDecodeError:
            body = NOT_JSON     # the full decode below words the failure
        if body is not NOT_JSON and placed(body, fast[1]):
            return body, fast[1]
    return json_body(resp), None


class Dimension:
    """The size every embedding must have: given (scenario.dimension), else learned from the
    first answer whose embeddings all agree; a later answer of another size is a failure."""

    def __init__(self, expected: int | None = None):
        self.expected = expected

    def problem(self, sizes: list[int | None]) -> str | None:
        """Why embeddings of these sizes (None: not a list) are wrong, or None."""
        if None in sizes or 0 in sizes:
            return "an embedding is not a non-empty list of numbers"
        if self.expected is None and sizes:
            if len(set(sizes)) > 1:
                return "embeddings of different dimensions in one answer"
            self.expected = sizes[0]
        bad = next((s for s in sizes if s != self.expected), None)
        return None if bad is None else f"embedding of dimension {bad}, expected {self.expected}"


_DIMENSIONS: dict[tuple[str, int | None], Dimension] = {}


def dimension(scenario, default: int | None = None) -> Dimension:
    """This process's Dimension for the scenario (learned once, then held)."""
    key = (scenario.protocol, scenario.dimension or default)
    return _DIMENSIONS.setdefault(key, Dimension(scenario.dimension or default))


def _numbers(vector: list) -> bool:
    """Only numbers (a NaN arrives as null): the counted path (vectors.py) refuses the rest."""
    return all(type(x) is float or type(x) is int for x in vector)


def check_vectors(resp, vectors, sent: int, dim: Dimension, sizes: list | None = None) -> None:
    """Mark the response failed unless it holds one embedding of the right size per text sent.
    `sizes`: the embeddings' sizes when they were counted (`counted`), not decoded."""
    if sizes is None:
        if not isinstance(vectors, list) or len(vectors) != sent:
            got = len(vectors) if isinstance(vectors, list) else type(vectors).__name__
            resp.failure(f"{got} embeddings for {sent} texts")
            return
        sizes = [len(v) if isinstance(v, list) and _numbers(v) else None for v in vectors]
    elif len(sizes) != sent:
        resp.failure(f"{len(sizes)} embeddings for {sent} texts")
        return
    if problem := dim.problem(sizes):
        resp.failure(problem)
    else:
        resp.success()


POOL_SIZE = 1024   # request bodies per kind: varied enough, and encoded once, not per request
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
url = lru_cache(maxsize=256)(join)   # the same few (host, path) pairs on every request


def request_pool(payload, scenario, bounds) -> list[tuple[int, bytes]]:
    """POOL_SIZE (texts sent, JSON body) pairs, each with texts(bounds) as payload() puts them."""
    pool = []
    for _ in range(POOL_SIZE):
        sent = texts(bounds)
        pool.append((len(sent), orjson.dumps(payload(sent, scenario))))
    return pool


def embedding_tasks(payload, check) -> dict:
    """TASKS of an embeddings protocol: `single` and `batch` POST scenario.path with
    payload(texts, scenario) (a body drawn from a request_pool), named "<path> [single]" /
    "<path> [batch]", each answer checked by check(resp, user, scenario, texts sent); and
    `health`."""
    pools: dict[tuple, list[tuple[int, bytes]]] = {}

    def embed(user, scenario, bounds, kind: str) -> None:
        key = (kind, tuple(bounds), scenario.model)
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = request_pool(payload, scenario, bounds)
        sent, body = random.choice(pool)
        path = scenario.request_path
        with user.client.post(url(user.host, path), data=body, headers=JSON_HEADERS,
                              name=f"{path} [{kind}]", catch_response=True) as resp:
            check(resp, user, scenario, sent)

    def single(user, scenario) -> None:
        embed(user, scenario, scenario.single_texts, "single")

    def batch(user, scenario) -> None:
        embed(user, scenario, scenario.batch_texts, "batch")

    return {"single": single, "batch": batch, "health": health}


def health(user, scenario) -> None:
    """GET the target's healthPath: any 200 is healthy (vLLM and TEI answer an empty body)."""
    path = getattr(user, "health_path", "/health")
    with user.client.get(url(user.host, path), name=path, catch_response=True) as resp:
        if status_ok(resp, user, scenario):
            resp.success()
