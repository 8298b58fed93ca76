"""Fixtures shared by every test area. Helpers live in tests/support (import `support.*`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.locust_runs import make_real_results
from support.servers import run_model_server


def pytest_collection_modifyitems(items) -> None:
    """The container tests last: `make test` builds their images in the background meanwhile
    (tests/support/prebuild.py)."""
    containers = Path(__file__).resolve().parent / "containers"
    items.sort(key=lambda item: containers in Path(str(item.path)).parents)


@pytest.fixture(scope="session")
def model_server() -> Iterator[str]:
    """One real model server (default settings) shared by the whole session; yields its base URL."""
    with run_model_server() as (base, _):
        yield base


@pytest.fixture(scope="session")
def real_results(tmp_path_factory) -> Path:
    """One real Locust result set (locust_*.csv, ~10% failures), made once per session.
    Shared: copy it (support.locust_runs.copy_results) before changing anything."""
    return make_real_results(tmp_path_factory.mktemp("real_results"))
