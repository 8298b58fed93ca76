"""Build the container tests' base image and both images in the background while the rest of
the suite runs: `make test` starts `python tests/support/prebuild.py` before pytest and the
container tests run last (tests/conftest.py), so on a fresh machine the ~4 minutes of
debootstrap and image builds overlap the other tests instead of adding to them.

The session fixtures of tests/containers ask for the same images by the same content keys:
they find them built, or wait on the same machine locks while this builds them. This never
fails `make test` by itself: whatever goes wrong here, the fixtures try again and report it.
Its lines (build times, sizes) go to LOG, shown in the "container tests" summary.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LOG = TESTS.parent / ".prebuild.log"


def logged() -> list[str]:
    """What the last background build said (for the terminal summary)."""
    try:
        return [f"(background build) {line}" for line in LOG.read_text().splitlines()]
    except OSError:
        return []


def main() -> int:
    sys.path.insert(0, str(TESTS))
    from support import base_image, docker_engine, images

    with open(LOG, "w", buffering=1) as out:
        def log(line: str) -> None:
            print(line, file=out)

        why = docker_engine.unavailable()
        if why:
            log(f"no Docker engine, nothing built: {why}")
            return 0
        t0 = time.monotonic()
        try:
            base = base_image.ensure(log=log)
            images.loadgate_image(base, log=log)
            images.model_server_image(base, log=log)
        except Exception as e:  # noqa: BLE001 - the fixtures retry and report properly
            log(f"background build failed ({type(e).__name__}: {e}); the tests build again")
            return 0
        log(f"images ready {time.monotonic() - t0:.0f}s after the background build started")
    return 0


if __name__ == "__main__":
    os.nice(5)  # the tests running meanwhile come first
    sys.exit(main())
