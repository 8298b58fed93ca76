"""What the protocol modules share: the texts they send, the HTTP status check (rate limits as
their own failure kind, Retry-After), the embedding checks and the health request.

Failure messages are fixed sentences (no request-specific numbers) where they name a kind, so
Locust groups them into one row each of locust_failures.csv.
"""

from __future__ import annotations

import email.utils
import random
import re
import time

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
        err = resp.json().get("error")
    except Exception:  # noqa: BLE001 - no JSON body: the status alone is the kind
        return None
    if isinstance(err, dict):
        err = err.get("code") or err.get("type")
    return err if isinstance(err, str) and _CODE.match(err) else None


NOT_JSON = object()


def json_body(resp):
    """The decoded JSON answer, or NOT_JSON after marking the response failed."""
    try:
        return resp.json()
    except Exception:  # noqa: BLE001 - any undecodable body is a wrong answer
        resp.failure("response is not JSON")
        return NOT_JSON


def answer(resp, user, scenario):
    """The JSON body of a 200 answer, or NOT_JSON once the response is marked failed."""
    return json_body(resp) if status_ok(resp, user, scenario) else NOT_JSON


class Dimension:
    """The size every embedding must have: given (scenario.dimension), else learned from the
    first answer whose embeddings all agree; a later answer of another size is a failure."""

    def __init__(self, expected: int | None = None):
        self.expected = expected

    def problem(self, vectors: list) -> str | None:
        sizes = [len(v) if isinstance(v, list) else None for v in vectors]
        if None in sizes or 0 in sizes:
            return "an embedding is not a non-empty list of numbers"
        if self.expected is None and len(set(sizes)) == 1:
            self.expected = sizes[0]
        bad = next((s for s in sizes if s != self.expected), None)
        return None if bad is None else f"embedding of dimension {bad}, expected {self.expected}"


_DIMENSIONS: dict[tuple[str, int | None], Dimension] = {}


def dimension(scenario, default: int | None = None) -> Dimension:
    """This process's Dimension for the scenario (learned once, then held)."""
    key = (scenario.protocol, scenario.dimension or default)
    return _DIMENSIONS.setdefault(key, Dimension(scenario.dimension or default))


def check_vectors(resp, vectors, sent: list[str], dim: Dimension) -> None:
    """Mark the response failed unless it holds one embedding of the right size per text."""
    if not isinstance(vectors, list) or len(vectors) != len(sent):
        got = len(vectors) if isinstance(vectors, list) else type(vectors).__name__
        resp.failure(f"{got} embeddings for {len(sent)} texts")
    elif problem := dim.problem(vectors):
        resp.failure(problem)
    else:
        resp.success()


def embedding_tasks(payload, check) -> dict:
    """TASKS of an embeddings protocol: `single` and `batch` POST scenario.path with
    payload(texts, scenario), named "<path> [single]" / "<path> [batch]", each answer checked by
    check(resp, user, scenario, texts); and `health`."""
    def embed(user, scenario, bounds, kind: str) -> None:
        sent = texts(bounds)
        path = scenario.request_path
        with user.client.post(join(user.host, path), json=payload(sent, scenario),
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
    with user.client.get(join(user.host, path), name=path, catch_response=True) as resp:
        if status_ok(resp, user, scenario):
            resp.success()
