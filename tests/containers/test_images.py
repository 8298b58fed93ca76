"""The built images carry what the suite ran: every installed distribution at the version of
constraints.txt (the same pins `make install` used), and the base the tests made stands in
for the official image (python, pip, a non-root uid 10001 user)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support.docker_engine import docker

pytestmark = pytest.mark.timeout(1200)

REPO = Path(__file__).resolve().parents[2]
# the base image's installer tooling (pinned only where a dependency needs it) and loadgate
NOT_PINNED = {"pip", "setuptools", "wheel", "loadgate"}


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            out[canonicalize_name(req.name)] = next(iter(req.specifier)).version
    return out


def installed(image: str) -> dict[str, str]:
    text = docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c",
                  "from importlib import metadata\n"
                  "for d in metadata.distributions(): print(d.metadata['Name'], d.version)",
                  timeout=120).stdout
    return {canonicalize_name(n): v for n, v in (x.split() for x in text.splitlines())}


@pytest.mark.parametrize("which", ["loadgate_image", "model_server_image"])
def test_image_dependencies_are_the_pinned_versions(which, request):
    image = request.getfixturevalue(which)
    have, pinned = installed(image), pins()
    unpinned = sorted(set(have) - set(pinned) - NOT_PINNED)
    assert unpinned == [], f"{image} carries distributions constraints.txt does not pin"
    differ = {n: (v, pinned[n]) for n, v in have.items()
              if n in pinned and n not in NOT_PINNED and v.split("+")[0] != pinned[n]}
    assert differ == {}, f"{image}: installed vs pinned {differ}"
    assert "loadgate" in have
    if which == "model_server_image":
        assert have["torch"].endswith("+cpu")  # the CPU build, never the CUDA one
        assert {"kopf", "locust"}.isdisjoint(have)
    else:
        assert {"kopf", "locust", "kubernetes"} <= set(have) and "torch" not in have
