"""`loadgate wait NAME -n NS --timeout D`: wait for a LoadTest's verdict (CI, Argo Rollouts).

Exit 0 Pass, 1 Fail, 2 Error / Invalid / Failed phase / timeout / not found.
"""

from __future__ import annotations

import sys
import time

from loadgate.exit_codes import ERROR, WAIT_EXIT_CODES
from loadgate_operator import kube, names

POLL_S = 2.0


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


def wait_for(name: str, namespace: str, timeout_s: float, *, poll_s: float = POLL_S,
             out=sys.stdout) -> int:
    deadline = time.monotonic() + timeout_s
    last = None
    missing_reported = False
    while True:
        obj = kube.get(names.API_VERSION, names.KIND, namespace, name)
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
                      + (f" — {st['reason']}" if st.get("reason") else ""), file=out, flush=True)
                last = (phase, verdict)
            if verdict in WAIT_EXIT_CODES and phase in ("Succeeded", "Failed"):
                return WAIT_EXIT_CODES[verdict]
            if phase == "Failed":
                return ERROR
        if time.monotonic() >= deadline:
            print(f"timed out after {timeout_s:g}s waiting for {namespace}/{name}", file=out)
            return ERROR
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


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
    return wait_for(args.name, namespace, timeout_s)
