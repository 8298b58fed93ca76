"""Wait until the target's health URL answers 200.

`not_ready` (503 while the model loads) and refused connections are normal during startup and
are waited out; a line every few seconds says what the target answers so a slow start is not a
silent hang. A definite failure (the server says its model failed to load) ends the wait at
once. Also the Kubernetes master Job's init container:

    python -m loadgate.runner.ready http://model-server:8000/health --timeout 300   # exit 0 / 2
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from loadgate.exit_codes import EXIT_CODES

REPORT_EVERY_S = 5.0
EXIT_READY, EXIT_NOT_READY = EXIT_CODES["Pass"], EXIT_CODES["Error"]


class TargetNotReady(Exception):
    """The target did not answer 200 in time, or never will; str() is one sentence saying so."""


@dataclass(frozen=True)
class Answer:
    """What one health request got back."""

    ready: bool
    seen: str                    # in a few words, for the progress lines
    failed: str | None = None    # a definite failure: waiting longer cannot help
    unresolved: bool = False     # the host name does not resolve


def _health_body(e: urllib.error.HTTPError) -> dict:
    try:
        body = json.loads(e.read(4096).decode("utf-8", "replace"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def probe(url: str, timeout_s: float) -> Answer:
    """One GET of the health URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            if r.status == 200:
                return Answer(True, "200 OK")
            return Answer(False, f"HTTP {r.status}")
    except urllib.error.HTTPError as e:
        body = _health_body(e)
        status, detail = body.get("status"), body.get("detail")
        said = f"HTTP {e.code}" + (f" {status}" if isinstance(status, str) else "")
        if isinstance(detail, str) and detail:
            said += f": {detail}"
        elif status == "not_ready":
            said += " (the model is still loading)"
        if status == "failed":  # loadgate's server: the model failed to load, for good
            return Answer(False, said, failed=f"its health check answers {said}")
        return Answer(False, said)
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ConnectionRefusedError):
            return Answer(False, "connection refused (nothing listening yet)")
        if isinstance(reason, socket.gaierror):
            host = urllib.parse.urlsplit(url).hostname
            return Answer(False, f"the host name {host} does not resolve ({reason.strerror})",
                          unresolved=True)
        return Answer(False, f"no answer ({reason})")
    except (TimeoutError, OSError) as e:
        return Answer(False, f"no answer ({e.__class__.__name__}: {e})")


def wait_for_target(url: str, timeout_s: float, *, interval: float = 1.0,
                    log: Callable[[str], object] = print,
                    give_up: Callable[[], str | None] | None = None,
                    unresolved_hint: str | None = None) -> None:
    """Poll `url` until it answers 200; raise TargetNotReady after `timeout_s` seconds, or at
    once on a definite failure: the target says it failed (loadgate's server answers
    `{"status": "failed"}` when its model cannot load), or `give_up()` returns a sentence
    (e.g. the server process died). `unresolved_hint` is logged after the first answer that
    the host name does not resolve (the local runner: "use --serve or --target").
    """
    start = time.monotonic()
    deadline = start + timeout_s
    last_report = start
    hinted = False
    while True:
        remaining = deadline - time.monotonic()
        answer = probe(url, max(0.2, min(5.0, remaining)))
        now = time.monotonic()
        if answer.ready:
            return
        stop_reason = answer.failed or (give_up() if give_up else None)
        if stop_reason:
            raise TargetNotReady(f"The target {url} will not become ready: "
                                 f"{stop_reason.rstrip('.')}.")
        if answer.unresolved and unresolved_hint and not hinted:
            log(f"waiting for {url}: {answer.seen}; {unresolved_hint}")
            hinted = True
            last_report = now
        if now >= deadline:
            raise TargetNotReady(
                f"The target {url} was not ready after {timeout_s:g}s "
                f"(its last answer: {answer.seen}); is it running, and is the URL right?")
        if now - last_report >= REPORT_EVERY_S:
            log(f"waiting for {url}: {answer.seen} ({now - start:.0f}s of {timeout_s:g}s)")
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
