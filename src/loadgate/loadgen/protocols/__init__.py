"""What the built-in users send and how each answer is checked, one module per API protocol.

A protocol module holds request functions `fn(user, scenario)` keyed by the names that
`spec.scenario.weights` weighs (`TASKS`), and the checks that turn a wrong answer into a
failure. No locust import here: the locustfile wires them into a User class.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# how every protocol words a 429/503 failure: "rate limited: HTTP 429 Too Many Requests"; the
# gate counts these (summary.rateLimited)
RATE_LIMITED_PREFIX = "rate limited: HTTP"

# spec.scenario.protocol -> the module holding its TASKS (names as in spec.PROTOCOLS)
MODULES = {"loadgate": "loadgate", "openai-embeddings": "openai_embeddings", "tei": "tei",
           "openai-chat": "openai_chat"}


def module(protocol: str) -> ModuleType:
    """The request/check module of a protocol (imported on first use: only its data loads)."""
    return importlib.import_module(f"{__name__}.{MODULES[protocol]}")
