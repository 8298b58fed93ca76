"""The cluster path in real containers: both images built from their Dockerfiles, the pods the
charts and the operator render run by tests/support/podrunner.py as a kubelet would.

Needs a Docker engine (`make test` starts one: scripts/docker-engine.sh). Without one these
tests skip with the reason, or fail with LOADGATE_REQUIRE_DOCKER=1 (as .ci/run sets).
The figures a reader wants (build times, sizes, time to ready, apply -> verdict) are printed
in the terminal summary under "container tests".
"""

from __future__ import annotations

import time

import pytest
from support import base_image, docker_engine, images, podrunner, prebuild
from support.cluster_path import REPORT, ModelServer, report


def pytest_terminal_summary(terminalreporter) -> None:
    lines = prebuild.logged() + REPORT
    if lines:
        terminalreporter.section("container tests")
        for line in lines:
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
    return images.loadgate_image(base, log=report)


@pytest.fixture(scope="session")
def model_server_image(base) -> str:
    return images.model_server_image(base, log=report)


@pytest.fixture(scope="session")
def model_server(model_server_image, tmp_path_factory):
    server = ModelServer(model_server_image, tmp_path_factory.mktemp("model-server"))
    yield server
    server.close()
