"""The operator under test: a real `loadgate operator` process against the kmock emulator,
with exactly the permissions the chart's namespaced Role gives it."""

from __future__ import annotations

import pytest
from support.operator_process import operator_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # a short pod start grace: the tests write pods that cannot start; finished runs stay
    # (later tests read earlier ones): pruning is tested in test_operator_clusterwide.py
    with operator_cluster(tmp_path_factory.mktemp("kmock"),
                          env={"LOADGATE_POD_START_GRACE": "3s",
                               "LOADGATE_KEEP_FINISHED": "0"}) as em:
        yield em
