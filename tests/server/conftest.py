"""Server-test fixtures: one in-process app (real model, run through its lifespan) per session."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loadgate.server.app import create_app
from loadgate.server.settings import ServerSettings

# small limits so the bad-input table is cheap to build; batching wait long enough that
# concurrent test requests really share model calls
LIMITS = dict(max_texts_per_request=8, max_chars_per_text=200, max_body_bytes=4096,
              max_batch_size=32, max_batch_wait_ms=30)


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    app = create_app(ServerSettings(**LIMITS))
    with TestClient(app) as c:  # runs the lifespan: the model loads in the background
        deadline = time.monotonic() + 120
        while c.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "model not ready in 120 s"
            time.sleep(0.1)
        yield c
