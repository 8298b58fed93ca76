"""Wait until the target's health URL answers 200.

`not_ready` (503 while the model loads) and refused connections are normal during startup and
are waited out; a line every few seconds says what the target answers so a slow start is not a
silent hang. Also the Kubernetes master Job's init container:

    python -m loadgate.runner.ready http://model-server:8000/health --timeout 300   # exit 0 / 2
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from loadgate.exit_codes import EXIT_CODES

REPORT_EVERY_S = 5.0
EXIT_READY, EXIT_NOT_READY = EXIT_CODES["Pass"], EXIT_CODES["Error"]


class TargetNotReady(Exception):
    """The target did not answer 200 in time; str() is one sentence saying so."""


def probe(url: str, timeout_s: float) -> tuple[bool, str]:
    """One GET: (ready, what the target answered in a few words)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            if r.status == 200:
                return True, "200 OK"
            return False, f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        body = e.read(200).decode("utf-8", "replace").strip()
        hint = " not_ready (the model is still loading)" if "not_ready" in body else ""
        return False, f"HTTP {e.code}{hint}"
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ConnectionRefusedError):
            return False, "connection refused (nothing listening yet)"
        return False, f"no answer ({reason})"
    except (TimeoutError, OSError) as e:
        return False, f"no answer ({e.__class__.__name__}: {e})"


def wait_for_target(url: str, timeout_s: float, *, interval: float = 1.0,
                    log: Callable[[str], object] = print,
                    give_up: Callable[[], str | None] | None = None) -> None:
    """Poll `url` until it answers 200; raise TargetNotReady after `timeout_s` seconds.

    `give_up()` returning a sentence ends the wait early (e.g. the server process died).
    """
    start = time.monotonic()
    deadline = start + timeout_s
    last_report = start
    seen = "no answer yet"
    while True:
        remaining = deadline - time.monotonic()
        ready, seen = probe(url, max(0.2, min(5.0, remaining)))
        now = time.monotonic()
        if ready:
            return
        stop_reason = give_up() if give_up else None
        if stop_reason:
            raise TargetNotReady(f"The target {url} will not become ready: {stop_reason}.")
        if now >= deadline:
            raise TargetNotReady(
                f"The target {url} was not ready after {timeout_s:g}s "
                f"(its last answer: {seen}); is it running, and is the URL right?")
        if now - last_report >= REPORT_EVERY_S:
            log(f"waiting for {url}: {seen} ({now - start:.0f}s of {timeout_s:g}s)")
            last_report = now
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        from loadgate.spec import parse_duration  # "5m" also works

        return parse_duration(text, "--timeout")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadgate.runner.ready",
                                description="wait until URL answers 200 (exit 0), else exit 2")
    p.add_argument("url", help="the health URL, e.g. http://model-server:8000/health")
    p.add_argument("--timeout", default="300", help="seconds (or 30s, 5m) before giving up")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    a = p.parse_args(argv)
    try:
        timeout_s = _seconds(a.timeout)
    except ValueError as e:
        p.error(f"--timeout: {e}")
    try:
        wait_for_target(a.url, timeout_s, interval=a.interval,
                        log=lambda m: print(m, flush=True))
    except TargetNotReady as e:
        print(e, file=sys.stderr, flush=True)
        return EXIT_NOT_READY
    print(f"target ready: {a.url}", flush=True)
    return EXIT_READY


if __name__ == "__main__":
    sys.exit(main())
