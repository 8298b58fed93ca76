"""The gate tests break private copies of the session's one real result set."""

from __future__ import annotations

import pytest
from support.locust_runs import copy_results


@pytest.fixture
def csv_copy(real_results, tmp_path) -> str:
    """A private copy of the real result set to break; returns its prefix."""
    return str(copy_results(real_results, tmp_path) / "locust")
