"""A test server that answers in ~10 ms but stalls every request for 5 s, twice in a 30 s run:
the coordinated-omission demonstration.

    python tests/support/stalling.py --port 8124 [--service-ms 10 --stalls 8,20 --stall-s 5]

or from a test: `with stalling.running() as base_url: ...` (`from support import stalling`).

The clock starts with the first request that is not a health check (so waiting for /health
does not start it). A request is answered `--service-ms` after it arrives, unless that moment
falls into a stall ([8 s, 13 s) and [20 s, 25 s) by default): then it is answered when the
stall ends, like a server frozen by a GC pause or a reload. Requests are served concurrently
(a stall holds everyone, not a queue). Answers are shaped like known_capacity.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator

try:
    from support.known_capacity import DelayServer, running_script, serve_app
except ImportError:  # run as a script: tests/support itself is on sys.path
    from known_capacity import DelayServer, running_script, serve_app

DEFAULT_STALLS = (8.0, 20.0)


class StallingServer(DelayServer):
    def __init__(self, service_s: float, stalls: tuple[float, ...], stall_s: float):
        self.service_s, self.stalls, self.stall_s = service_s, stalls, stall_s
        self.t0: float | None = None   # loop time of the first non-health request

    def answer_at(self, now: float, path: str) -> float:
        if path.startswith("/health"):
            return now
        if self.t0 is None:
            self.t0 = now
        done = now + self.service_s
        for start in self.stalls:
            begin = self.t0 + start
            if begin <= done < begin + self.stall_s:
                return begin + self.stall_s
        return done


@contextlib.contextmanager
def running(service_ms: float = 10.0, stalls: tuple[float, ...] = DEFAULT_STALLS,
            stall_s: float = 5.0) -> Iterator[str]:
    """Start this server in a subprocess on a free loopback port; yields its base URL."""
    with running_script(__file__, "--service-ms", str(service_ms),
                        "--stalls", ",".join(f"{s:g}" for s in stalls),
                        "--stall-s", str(stall_s)) as base:
        yield base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--service-ms", type=float, default=10.0)
    p.add_argument("--stalls", default=",".join(f"{s:g}" for s in DEFAULT_STALLS),
                   help="seconds after the first request at which a stall begins")
    p.add_argument("--stall-s", type=float, default=5.0)
    a = p.parse_args()
    stalls = tuple(float(x) for x in a.stalls.split(",") if x.strip())
    asyncio.run(serve_app(StallingServer(a.service_ms / 1000.0, stalls, a.stall_s),
                          a.host, a.port))


if __name__ == "__main__":
    main()
