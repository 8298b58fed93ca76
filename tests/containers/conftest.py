"""The cluster path in real containers: both images built from their Dockerfiles, the pods the
charts and the operator render run by tests/support/podrunner.py as a kubelet would.

Needs a Docker engine (`make test` starts one: scripts/docker-engine.sh). Without one these
tests skip with the reason, or fail with LOADGATE_REQUIRE_DOCKER=1 (as .ci/run sets).
The figures a reader wants (build times, sizes, time to ready, apply -> verdict) are printed
in the terminal summary under "container tests".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
# the support modules, and the emulator and chart helpers wherever they live
for _d in ("charts", "operator", "support"):
    if str(TESTS / _d) not in sys.path:
        sys.path.insert(0, str(TESTS / _d))

import base_image  # noqa: E402
import docker_engine  # noqa: E402
import podrunner  # noqa: E402
import torch_index  # noqa: E402
from cluster_path import REPORT, ModelServer, report  # noqa: E402

import images  # noqa: E402


def pytest_terminal_summary(terminalreporter) -> None:
    if REPORT:
        terminalreporter.section("container tests")
        for line in REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def engine():
    why = docker_engine.unavailable()
    if why:
        if docker_engine.required():
            pytest.fail(f"LOADGATE_REQUIRE_DOCKER is set but there is no Docker engine: {why}")
        pytest.skip(f"NO DOCKER ENGINE, container tests skipped: {why}")
    yield
    podrunner.cleanup_session()


@pytest.fixture(scope="session")
def base(engine) -> str:
    t0 = time.monotonic()
    ref = base_image.ensure(log=report)
    report(f"base image ready in {time.monotonic() - t0:.0f}s: {ref}")
    return ref


@pytest.fixture(scope="session")
def loadgate_image(base) -> str:
    return images.ensure("loadgate", base=base, log=report)


@pytest.fixture(scope="session")
def model_server_image(base) -> str:
    index = torch_index.ensure(log=report)
    return images.ensure("model-server", base=base, key_args={"torch-index": index.name},
                         build_args={"TORCH_INDEX_URL": lambda: torch_index.serve(index)},
                         log=report)


@pytest.fixture(scope="session")
def model_server(model_server_image, tmp_path_factory):
    server = ModelServer(model_server_image, tmp_path_factory.mktemp("model-server"))
    yield server
    server.close()
