"""`loadgate wait NAME -n NS --timeout D`: wait for a LoadTest's verdict (CI, Argo Rollouts).

Exit 0 Pass, 1 Fail, 2 Error / Invalid / Failed phase / timeout / not found / an API that
cannot be read. Exit 1 means the verdict Fail and nothing else (an Argo Rollouts analysis rolls
back on it): a flaky API server (5xx, 429, a dropped connection, an expired watch) is retried
with backoff until the timeout; an error that retrying cannot fix (401, 403, a bad request)
exits 2 at once with the reason.
"""

from __future__ import annotations

import sys
import time

from kubernetes.client.rest import ApiException

from loadgate.exit_codes import ERROR, WAIT_EXIT_CODES
from loadgate_operator import kube, names

POLL_S = 2.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 15.0
# request timeout, conflict-free throttling, watch expiry (410 Gone), server-side trouble
TRANSIENT_STATUS = {408, 410, 429, 500, 502, 503, 504}


class PersistentApiError(Exception):
    """An API answer no retry can change (authentication, permission, a bad request)."""


def current_namespace() -> str:
    try:
        import kubernetes
        _, ctx = kubernetes.config.list_kube_config_contexts()
        return (ctx.get("context") or {}).get("namespace") or "default"
    except Exception:  # no kubeconfig: in-cluster, or nothing to guess from
        try:
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
                return f.read().strip() or "default"
        except OSError:
            return "default"


def describe(e: Exception) -> str:
    import urllib3

    if isinstance(e, ApiException):
        return f"{e.status} {e.reason}".strip()
    if isinstance(e, urllib3.exceptions.MaxRetryError):  # the client's own retries ran out
        e = e.reason or e
    return f"no answer: {type(e).__name__}: {str(e)[:200]}"


def transient(e: Exception) -> bool:
    """Worth retrying: the API server's own trouble, throttling, or the connection."""
    if isinstance(e, ApiException):
        return e.status in TRANSIENT_STATUS or not e.status
    import urllib3

    return isinstance(e, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError | OSError)


def retry_after(e: Exception) -> float | None:
    """The server's Retry-After (429/503), in seconds."""
    headers = getattr(e, "headers", None) or {}
    try:
        return float(headers.get("Retry-After"))
    except (TypeError, ValueError):
        return None


def fetch(name: str, namespace: str) -> dict | None:
    """The LoadTest, None if it does not exist; PersistentApiError, or the transient error."""
    try:
        return kube.get(names.API_VERSION, names.KIND, namespace, name)
    except Exception as e:
        if transient(e):
            raise
        raise PersistentApiError(describe(e)) from e


def wait_for(name: str, namespace: str, timeout_s: float, *, poll_s: float = POLL_S,
             out=sys.stdout) -> int:
    deadline = time.monotonic() + timeout_s
    last = None
    missing_reported = False
    backoff, last_error = BACKOFF_START_S, ""
    while True:
        delay = poll_s
        try:
            obj = fetch(name, namespace)
        except PersistentApiError as e:
            print(f"cannot read LoadTest {namespace}/{name}: {e} (not retried)", file=out)
            return ERROR
        except Exception as e:  # transient: retry with backoff
            error = describe(e)
            if error != last_error:
                print(f"reading the LoadTest failed ({error}); retrying", file=out, flush=True)
            last_error, delay = error, retry_after(e) or backoff
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        else:
            backoff, last_error = BACKOFF_START_S, ""
            if obj is None:
                if not missing_reported:
                    if not kube.served(names.API_VERSION, names.PLURAL):
                        print(f"loadgate wait: this cluster does not serve {names.PLURAL}."
                              f"{names.GROUP}: the LoadTest CRD is not installed (install the "
                              "loadgate chart, charts/loadgate)", file=out)
                        return ERROR
                    print(f"LoadTest {namespace}/{name} not found; waiting for it", file=out)
                    missing_reported = True
            else:
                st = obj.get("status") or {}
                phase, verdict = st.get("phase") or "Pending", st.get("verdict")
                if (phase, verdict) != last:
                    print(f"{name}: phase {phase}" + (f", verdict {verdict}" if verdict else "")
                          + (f" — {st['reason']}" if st.get("reason") else ""), file=out,
                          flush=True)
                    last = (phase, verdict)
                if verdict in WAIT_EXIT_CODES and phase in ("Succeeded", "Failed"):
                    return WAIT_EXIT_CODES[verdict]
                if phase == "Failed":
                    return ERROR
        if time.monotonic() >= deadline:
            why = f" (last API error: {last_error})" if last_error else ""
            print(f"timed out after {timeout_s:g}s waiting for {namespace}/{name}{why}", file=out)
            return ERROR
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))


def main(args) -> int:
    from loadgate.spec import SpecError, parse_duration
    try:
        timeout_s = parse_duration(args.timeout, "--timeout")
    except (SpecError, ValueError) as e:
        print(f"loadgate wait: {e}", file=sys.stderr)
        return ERROR
    namespace = args.namespace or current_namespace()
    try:
        kube.load_config()
    except Exception as e:
        print(f"loadgate wait: no Kubernetes configuration: {e}", file=sys.stderr)
        return ERROR
    try:
        return wait_for(args.name, namespace, timeout_s)
    except Exception as e:  # whatever it is, it is not the verdict Fail
        print(f"loadgate wait: {describe(e)}", file=sys.stderr)
        return ERROR
